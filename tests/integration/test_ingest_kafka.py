"""Ingest against a real Anvil, a real Tansu broker and a moto server: blocks reach
Kafka in order, the checkpoint follows the broker's ack, reorgs become reverts."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient
from blockhook.ingest.service import ChainIngest
from blockhook.store import chain_state
from blockhook.store import matches as match_store
from blockhook.streaming.codec import BlockMessage, RevertMessage, decode
from blockhook.streaming.producer import BlockProducer
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.kafka import fresh_chain_ingest, new_topic, topic_records

pytestmark = pytest.mark.integration

CHAIN_ID = 31337


@pytest.fixture
def topic(kafka_bootstrap) -> str:
    return new_topic(kafka_bootstrap, "blocks-")


@pytest.fixture
def ingest(anvil_rpc, kafka_bootstrap, moto_endpoint, topic):
    with fresh_chain_ingest(anvil_rpc, kafka_bootstrap, topic, CHAIN_ID, batch=2) as ingest:
        yield ingest


def read_topic(bootstrap: str, topic: str) -> list:
    return [decode(record.value) for record in topic_records(bootstrap, topic)]


def transfer(anvil_rpc: str, value: int) -> dict:
    return send_tx(anvil_rpc, ANVIL_ACCOUNTS[1], ANVIL_ACCOUNTS[2], value=value)


def test_blocks_are_published_in_order_and_checkpointed(ingest, anvil_rpc, kafka_bootstrap, topic):
    receipts = [transfer(anvil_rpc, 1000 + n) for n in range(5)]  # automine: one block each

    result = ingest.poll()

    messages = read_topic(kafka_bootstrap, topic)
    numbers = [message.header.number for message in messages]
    assert numbers == [int(receipt["blockNumber"], 16) for receipt in receipts]
    values = [
        event["value"] for message in messages for event in message.events if event["kind"] == "native_transfer"
    ]
    assert values == [str(1000 + n) for n in range(5)]
    for earlier, later in zip(messages, messages[1:], strict=False):
        assert later.header.parent_hash == earlier.header.hash
    checkpoint = chain_state.load_checkpoint(CHAIN_ID)
    assert (checkpoint.number, checkpoint.hash) == (messages[-1].header.number, messages[-1].header.hash)
    assert result.blocks == 5 and result.error is None


def test_a_second_poll_publishes_only_new_blocks(ingest, anvil_rpc, kafka_bootstrap, topic):
    transfer(anvil_rpc, 1)
    ingest.poll()
    transfer(anvil_rpc, 2)
    ingest.poll()

    numbers = [message.header.number for message in read_topic(kafka_bootstrap, topic)]
    assert len(numbers) == 2 and numbers[1] == numbers[0] + 1


@pytest.mark.parametrize("depth", [1, 3])
def test_a_reorg_reverts_the_replaced_blocks_newest_first(ingest, anvil_rpc, kafka_bootstrap, topic, depth):
    for n in range(4):
        transfer(anvil_rpc, 10 + n)
    ingest.poll()
    before = {m.header.number: m.header.hash for m in read_topic(kafka_bootstrap, topic)}
    head = max(before)

    rpc(anvil_rpc, "anvil_reorg", [depth, []])  # the last `depth` blocks, replaced by empty ones
    rpc(anvil_rpc, "anvil_mine", ["0x1"])  # the new branch grows past the old head
    result = ingest.poll()

    messages = read_topic(kafka_bootstrap, topic)[len(before) :]
    reverts = [m for m in messages if isinstance(m, RevertMessage)]
    replaced = list(range(head, head - depth, -1))
    assert [(r.number, r.hash) for r in reverts] == [(n, before[n]) for n in replaced]
    new_blocks = [m for m in messages if isinstance(m, BlockMessage)]
    assert [b.header.number for b in new_blocks] == sorted(replaced) + [head + 1]
    assert all(b.header.hash != before[b.header.number] for b in new_blocks if b.header.number in before)
    assert new_blocks[0].header.parent_hash == before[head - depth]
    assert all(not b.events for b in new_blocks)  # the replacement blocks hold no transfer
    assert result.reverts == depth
    assert chain_state.load_checkpoint(CHAIN_ID).number == head + 1


def test_a_reorg_deeper_than_the_window_reverts_what_the_window_holds(
    ingest, anvil_rpc, kafka_bootstrap, topic, monkeypatch
):
    monkeypatch.setattr(chain_state, "HASH_WINDOW", 2)
    for n in range(5):
        transfer(anvil_rpc, 20 + n)
    ingest.poll()
    before = {m.header.number: m.header.hash for m in read_topic(kafka_bootstrap, topic)}
    head = max(before)

    rpc(anvil_rpc, "anvil_reorg", [4, []])
    rpc(anvil_rpc, "anvil_mine", ["0x1"])
    ingest.poll()

    messages = read_topic(kafka_bootstrap, topic)[len(before) :]
    reverts = [(m.number, m.hash) for m in messages if isinstance(m, RevertMessage)]
    assert reverts == [(head, before[head]), (head - 1, before[head - 1])]  # only the window's two
    blocks = [m.header.number for m in messages if isinstance(m, BlockMessage)]
    assert blocks == [head - 1, head, head + 1]
    assert chain_state.load_checkpoint(CHAIN_ID).number == head + 1


@pytest.fixture
def epoch_node(tmp_path):
    """An Anvil whose safe block is 2 below its head and finalized block 4 below (2 slots an epoch)."""
    from blockhook.local.servers import anvil, free_port

    server = anvil(free_port(), slots_in_an_epoch=2, log_path=tmp_path / "anvil.log").start()
    yield server.url
    server.stop()


def test_blocks_carry_the_nodes_safe_and_finalized_heads_and_those_are_recorded(
    epoch_node, kafka_bootstrap, moto_endpoint, topic
):
    chain_id = 3_000_000 + uuid.uuid4().int % 10**9
    rpc(epoch_node, "anvil_mine", ["0xa"])
    config = ChainConfig(chain_id=chain_id, rpc_urls=[epoch_node], start_block=8, traces="off")
    producer = BlockProducer(kafka_bootstrap, topic)
    try:
        ChainIngest(config, RpcChainReader(JsonRpcClient([epoch_node])), producer).poll()
    finally:
        producer.close()

    messages = read_topic(kafka_bootstrap, topic)
    assert [(m.header.number, m.finality) for m in messages] == [
        (number, {"safe": 8, "finalized": 6}) for number in (8, 9, 10)
    ]
    heads = chain_state.load_node_heads(chain_id)
    assert (heads.head, heads.safe, heads.finalized) == (10, 8, 6)


def test_a_head_that_does_not_move_ages_and_the_chain_is_stalled(ingest, anvil_rpc):
    transfer(anvil_rpc, 1)  # a head no earlier poll of this chain has seen
    now = [float(int(time.time()))]
    ingest.clock = lambda: now[0]
    interval = ingest.config.poll_interval
    first = ingest.poll()
    assert first.head_age == 0
    now[0] += 10 * interval
    assert ingest.poll().head_age == 10 * interval  # same head: it ages
    heads = chain_state.load_node_heads(CHAIN_ID)
    assert not chain_state.stalled(heads, interval, now[0])
    assert chain_state.stalled(heads, interval, now[0] + interval + 1)  # past 10 block times
    transfer(anvil_rpc, 1)  # a new block
    now[0] += 60
    assert ingest.poll().head_age == 0
    assert not chain_state.stalled(chain_state.load_node_heads(CHAIN_ID), interval, now[0])


@pytest.fixture
def other_node(tmp_path):
    """An Anvil whose genesis block differs from the session node's (another block gas limit), whenever
    the two were started."""
    from blockhook.local.servers import anvil, free_port

    server = anvil(free_port(), gas_limit=31_000_000, log_path=tmp_path / "anvil.log").start()
    yield server.url
    server.stop()


def test_a_node_on_another_genesis_starts_the_chain_fresh_with_one_warning(
    anvil_rpc, other_node, kafka_bootstrap, moto_endpoint, topic
):
    """The chain's checkpoint was made on the session's node; the chain is then served by another node
    (its own genesis): no block of it is read against the old checkpoint, it starts at that node's head."""
    chain_id = 4_000_000 + uuid.uuid4().int % 10**9
    rpc(anvil_rpc, "anvil_mine", ["0x5"])  # the old checkpoint lies above the other node's head
    rpc(other_node, "anvil_mine", ["0x3"])
    old_genesis, new_genesis = (
        rpc(url, "eth_getBlockByNumber", ["0x0", False])["hash"] for url in (anvil_rpc, other_node)
    )
    warnings: list[logging.LogRecord] = []
    collector = logging.Handler(logging.WARNING)
    collector.emit = warnings.append
    service_logger = logging.getLogger("blockhook.ingest.service")
    producer = BlockProducer(kafka_bootstrap, topic)
    # Matches of the old chain that wait for confirmations: the new chain reaching their numbers must not
    # release them. One waits for 100 blocks, one for the finalized tag.
    waiting = [
        match_store.record_match(
            tenant_id="tenant", monitor_id=f"mon_{n}", chain_id=chain_id, chunk=0, events=[],
            block={"number": 2, "hash": "0x" + f"{n}" * 64, "parent_hash": "0x" + "0" * 64, "timestamp": 0},
            confirmations=confirmations,
        )[0]
        for n, confirmations in ((1, 100), (2, "finalized"))
    ]  # fmt: skip
    try:
        for url in (anvil_rpc, other_node):
            config = ChainConfig(chain_id=chain_id, rpc_urls=[url], traces="off")
            ingest = ChainIngest(config, RpcChainReader(JsonRpcClient([url])), producer)
            if url == other_node:
                service_logger.addHandler(collector)
            try:
                assert ingest.poll().error is None
                assert ingest.poll().error is None  # checked once: no second warning
            finally:
                service_logger.removeHandler(collector)
            if url == anvil_rpc:
                assert chain_state.load_checkpoint(chain_id).number > 3
    finally:
        producer.close()

    warning, dropped = warnings
    assert f"chain {chain_id}" in warning.getMessage()
    assert old_genesis in warning.getMessage() and new_genesis in warning.getMessage()
    checkpoint = chain_state.load_checkpoint(chain_id)
    third = rpc(other_node, "eth_getBlockByNumber", ["0x3", False])["hash"]
    assert (checkpoint.number, checkpoint.hash) == (3, third)
    assert read_topic(kafka_bootstrap, topic)[-1].header.hash == checkpoint.hash
    assert chain_state.recorded_genesis(chain_id) == new_genesis
    assert [match_store.get_match(item).status for item in waiting] == ["dropped", "dropped"]
    assert f"chain {chain_id}: 2 matches" in dropped.getMessage()
