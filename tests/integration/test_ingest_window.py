"""Ingest with several batched requests in flight, against a real Anvil and Tansu through a real HTTP
proxy: the requests really overlap, a node that answers 429 or too late narrows the window, and
Kafka still holds every block once, in order, with the checkpoint on the last."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient
from blockhook.ingest.service import ChainIngest
from blockhook.store import chain_state
from blockhook.store.models import ChainStateModel
from blockhook.streaming.codec import BlockMessage, decode
from blockhook.streaming.producer import BlockProducer
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.fault_proxy import FaultProxy, ProxiedRequest, first_n, http_error
from tests.support.kafka import new_topic, topic_records

pytestmark = pytest.mark.integration

WAIT = 30.0  # generous bound on waiting for the requests to meet; never a measured time
IN_FLIGHT = 4
BATCH = 2


def is_block_batch(request: ProxiedRequest) -> bool:
    """A batched read of blocks with their transactions (what ingest fetches ahead)."""
    sent = request.json()
    return isinstance(sent, list) and any(
        call.get("method") == "eth_getBlockByNumber" and call.get("params", [None, None])[1] is True
        for call in sent if isinstance(call, dict)
    )  # fmt: skip


@contextlib.contextmanager
def ingest_through(proxy_url: str, bootstrap: str, topic: str, chain_id: int, start: int, timeout: float = 5):
    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{chain_id}").delete()
    config = ChainConfig(chain_id=chain_id, rpc_urls=[proxy_url], start_block=start, max_blocks_per_batch=BATCH,
                         max_requests_in_flight=IN_FLIGHT, traces="off")  # fmt: skip
    producer = BlockProducer(bootstrap, topic)
    try:
        # One round: the window, not the client's own retries, answers the node's refusals.
        yield ChainIngest(config, RpcChainReader(JsonRpcClient([proxy_url], timeout=timeout, max_rounds=1)), producer)
    finally:
        producer.close()


def chain_of_blocks(anvil_rpc: str, count: int) -> tuple[int, int]:
    """`count` new blocks, every other one with a transfer; (first, last)."""
    first = int(rpc(anvil_rpc, "eth_blockNumber", []), 16) + 1
    for n in range(count // 2):
        send_tx(anvil_rpc, ANVIL_ACCOUNTS[3], ANVIL_ACCOUNTS[4], value=500 + n)  # automine: a block each
        rpc(anvil_rpc, "anvil_mine", ["0x1"])
    return first, int(rpc(anvil_rpc, "eth_blockNumber", []), 16)


def published(bootstrap: str, topic: str) -> list[int]:
    messages = [decode(record.value) for record in topic_records(bootstrap, topic)]
    assert all(isinstance(message, BlockMessage) for message in messages)
    return [message.header.number for message in messages]


def test_batches_are_fetched_several_at_once_and_published_in_order(anvil_rpc, kafka_bootstrap, moto_endpoint,
                                                                     chain_id):
    first, last = chain_of_blocks(anvil_rpc, 24)
    # The first IN_FLIGHT block reads are held until all of them have arrived: they were in flight together.
    together = threading.Barrier(IN_FLIGHT, timeout=WAIT)

    def hold(request: ProxiedRequest):
        together.wait()

    topic = new_topic(kafka_bootstrap, "blocks-window-")
    with FaultProxy(anvil_rpc, first_n(IN_FLIGHT, hold, is_block_batch)) as proxy, \
            ingest_through(proxy.url, kafka_bootstrap, topic, chain_id, first) as ingest:
        result = ingest.poll()

    assert not together.broken
    assert (result.error, result.blocks) == (None, last - first + 1)
    assert published(kafka_bootstrap, topic) == list(range(first, last + 1))
    assert chain_state.load_checkpoint(chain_id).number == last
    assert ingest.window.size == IN_FLIGHT


def answer_late(request: ProxiedRequest):
    time.sleep(2.0)  # then forwarded: the client (timeout 1 s) has given up on it


FAULTS = {"http_429": http_error(429, "Too Many Requests"), "timeout": answer_late}


@pytest.mark.parametrize(("kind", "refused"), [("http_429", 6), ("timeout", 3)])
def test_a_node_asking_for_less_narrows_the_window_and_no_block_is_skipped_or_repeated(
    anvil_rpc, kafka_bootstrap, moto_endpoint, chain_id, kind, refused
):
    first, last = chain_of_blocks(anvil_rpc, 24)
    topic = new_topic(kafka_bootstrap, "blocks-window-")
    # The first `refused` block reads fail: a burst of IN_FLIGHT at once, then the ones sent again.
    with FaultProxy(anvil_rpc, first_n(refused, FAULTS[kind], is_block_batch)) as proxy, \
            ingest_through(proxy.url, kafka_bootstrap, topic, chain_id, first, timeout=1) as ingest:
        result = ingest.poll()

    assert (result.error, result.blocks) == (None, last - first + 1)
    if kind == "http_429":
        assert proxy.injected("http_429") == refused
    assert ingest.window.size < IN_FLIGHT
    assert published(kafka_bootstrap, topic) == list(range(first, last + 1))  # each once, in order
    assert chain_state.load_checkpoint(chain_id).number == last


def backfill_of_new_blocks(anvil_rpc: str, bootstrap: str, chain_id: int, tenant_id: str):
    """24 new blocks, a monitor with a backfill job over them, and a fresh topic: (first, last, monitor, topic)."""
    from blockhook.store.backfills import start_backfill
    from tests.support.builders import create_monitor, new_address

    first, last = chain_of_blocks(anvil_rpc, 24)
    monitor = create_monitor(tenant_id, chain_id, ["native_transfer"], [(new_address(), None)])
    start_backfill(monitor, chain_id, first, last)
    return first, last, monitor, new_topic(bootstrap, "blocks-window-")


def test_a_backfill_step_reads_through_the_window_and_publishes_its_blocks_once_in_order(
    anvil_rpc, kafka_bootstrap, moto_endpoint, chain_id, tenant_id
):
    from blockhook.ingest.backfill import BackfillRunner
    from blockhook.store.monitors import get_monitor

    first, last, monitor, topic = backfill_of_new_blocks(anvil_rpc, kafka_bootstrap, chain_id, tenant_id)
    with FaultProxy(anvil_rpc, first_n(6, FAULTS["http_429"], is_block_batch)) as proxy, \
            ingest_through(proxy.url, kafka_bootstrap, topic, chain_id, first) as ingest:
        ingest.config = ingest.config.model_copy(update={"poll_interval": 60.0})  # the whole job in one step
        published_blocks = BackfillRunner([ingest]).step(chain_id)

    assert published_blocks == last - first + 1
    assert proxy.injected("http_429") == 6 and ingest.window.size < IN_FLIGHT
    messages = [decode(record.value) for record in topic_records(kafka_bootstrap, topic)]
    assert [m.header.number for m in messages] == list(range(first, last + 1))
    assert {m.backfill.monitor_id for m in messages} == {monitor.monitor_id}
    assert get_monitor(tenant_id, monitor.monitor_id).backfill.status == "done"


def fetch_threads(chain_id: int) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(f"fetch-{chain_id}")]


def test_a_backfill_keeps_one_fetch_open_across_its_steps_and_the_run_ends_it(
    anvil_rpc, kafka_bootstrap, moto_endpoint, chain_id, tenant_id
):
    from blockhook.ingest.backfill import BackfillRunner
    from blockhook.ingest.service import run_ingest
    from blockhook.store.monitors import get_monitor

    first, last, monitor, topic = backfill_of_new_blocks(anvil_rpc, kafka_bootstrap, chain_id, tenant_id)
    with ingest_through(anvil_rpc, kafka_bootstrap, topic, chain_id, last + 1) as ingest:
        # A step publishes one batch and stops (its poll interval has passed by then): several steps.
        ingest.config = ingest.config.model_copy(update={"poll_interval": 0.001})
        opened: list[int] = []
        fetch = ingest.fetch

        def counted(to_block, *rest):
            if not rest:  # the backfill's (the live poll's passes should_stop too)
                opened.append(to_block)
            return fetch(to_block, *rest)

        ingest.fetch = counted
        runner = BackfillRunner([ingest])
        steps = [runner.step(chain_id) for _ in range(3)]
        assert steps == [BATCH] * 3 and len(opened) == 1  # one fetch, its requests running between steps
        assert fetch_threads(chain_id)

        # As the ingest function runs it: the rest of the job, then the chain's thread ends the fetch.
        def done() -> bool:
            return get_monitor(tenant_id, monitor.monitor_id).backfill.status == "done"

        run_ingest([ingest], should_stop=done, backfills=runner)
        assert not fetch_threads(chain_id)  # no request outlives the run

    messages = [decode(record.value) for record in topic_records(kafka_bootstrap, topic)]
    backfilled = [m.header.number for m in messages if isinstance(m, BlockMessage) and m.backfill is not None]
    assert backfilled == list(range(first, last + 1))  # each once, in order, across the steps
    assert opened == [last]
