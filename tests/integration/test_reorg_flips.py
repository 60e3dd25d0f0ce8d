"""A chain that flips A, B, A, end to end on real parts: two Anvil nodes with one genesis, each on a
fork of its own, behind a proxy that fails over from one to the other (an RPC provider's node briefly
on another fork); ingest publishing to a real Tansu topic; the matcher reading that topic's records;
deliveries posted to a real webhook receiver; DynamoDB and SQS on the moto server.

What the receiver must see: each time block A is replaced its events come back with
`"removed": true`, and each time A is canonical again they are sent again with `"removed": false`,
every time in a delivery of its own, so the last delivery of an event id tells its state. Handing
the matcher the same topic records again sends nothing new."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field

import boto3
import pytest

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.ingest.service import ChainIngest
from blockhook.local import servers
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import MatchService, TopicRecord
from blockhook.store.deliveries import get_delivery, last_sequence
from blockhook.store.models import ChainStateModel
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import BlockMessage, RevertMessage, decode
from blockhook.streaming.producer import BlockProducer, ProduceFailed, ensure_topic
from tests.integration.test_delivery_service import drain
from tests.integration.test_matching_service import deliveries_of
from tests.support.builders import create_monitor, new_address
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.fault_proxy import FaultProxy
from tests.support.kafka import topic_records
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.integration

GENESIS_TIMESTAMP = 1_700_000_000  # the same genesis block on both nodes


@pytest.fixture
def forks(chain_id, tmp_path):
    """Two nodes of one chain (same id, same genesis, same accounts), not peered: each mines a fork."""
    nodes = []
    try:
        for name in ("a", "b"):
            node = servers.anvil(servers.free_port(), chain_id=chain_id, log_path=tmp_path / f"anvil-{name}.log")
            node.argv += ["--timestamp", str(GENESIS_TIMESTAMP)]
            nodes.append(node.start())
        a, b = (node.url for node in nodes)
        assert block_hash(a, 0) == block_hash(b, 0)
        yield a, b
    finally:
        for node in nodes:
            node.stop()


def block_hash(url: str, number: int) -> str:
    return rpc(url, "eth_getBlockByNumber", [hex(number), False])["hash"]


@dataclass
class Pipeline:
    """Ingest -> topic -> matcher -> deliveries -> receiver, one step at a time. The matcher gets the
    topic's records one by one with their offsets, as the matcher function hands them on, and after
    each one every delivery it queued is attempted, so the receiver's order is the order of the chain."""

    ingest: ChainIngest
    matcher: MatchService
    deliveries: DeliveryService
    bootstrap: str
    topic: str
    queue_url: str
    consumed: int = 0
    messages: list = field(default_factory=list)

    def poll(self) -> None:
        self.ingest.poll()
        self.consume()

    def consume(self) -> None:
        """Match what is on the topic and was not matched yet."""
        records = topic_records(self.bootstrap, self.topic)
        for record in records[self.consumed :]:
            self.messages.append(decode(record.value))
            self.match([record])
        self.consumed = len(records)

    def match(self, records: list) -> None:
        for record in records:
            self.matcher.process([TopicRecord(record.value, f"{self.topic}-{record.partition}", record.offset)])
            for delivery_id in drain(self.queue_url):
                self.deliveries.attempt(delivery_id)

    def replay(self) -> None:
        """The event source hands every record of the topic again, from the first, in one batch."""
        records = [
            TopicRecord(record.value, f"{self.topic}-{record.partition}", record.offset)
            for record in topic_records(self.bootstrap, self.topic)
        ]
        self.matcher.process(records)
        for delivery_id in drain(self.queue_url):
            self.deliveries.attempt(delivery_id)

    def published(self, block: str) -> list[str]:
        """What the topic said about the block of this hash, in order: "block" or "revert"."""
        said = []
        for message in self.messages:
            if isinstance(message, BlockMessage) and message.header.hash == block:
                said.append("block")
            elif isinstance(message, RevertMessage) and message.hash == block:
                said.append("revert")
        return said


@pytest.fixture
def pipeline(forks, chain_id, kafka_bootstrap, moto_endpoint, queue_url):
    topic = "blocks-" + uuid.uuid4().hex[:8]
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{chain_id}").delete()
    with FaultProxy(forks[0]) as proxy:
        config = ChainConfig(chain_id=chain_id, rpc_urls=[proxy.url], start_block=0, max_blocks_per_batch=2)
        producer = BlockProducer(kafka_bootstrap, topic)
        deliveries = DeliveryService(
            DeliveryQueue(queue_url, client=boto3.client("sqs")),
            schedule=(1, 2),
            allow_private_webhooks=True,
            box=configured_secret_box(),
        )
        try:
            yield proxy, Pipeline(
                ChainIngest(config, RpcChainReader(JsonRpcClient([proxy.url])), producer),
                MatchService(WatchIndex(), deliveries),
                deliveries,
                kafka_bootstrap,
                topic,
                queue_url,
            )
        finally:
            producer.close()


def deposit(url: str, to: str, value: int) -> dict:
    return send_tx(url, ANVIL_ACCOUNTS[5], to, value=value)


def mine(url: str, blocks: int) -> None:
    rpc(url, "anvil_mine", [hex(blocks)])


def seen(receiver: WebhookReceiver) -> list[tuple[str, bool, list[str]]]:
    return [
        (payload["block"]["hash"], payload["removed"], [event["id"] for event in payload["events"]])
        for payload in receiver.payloads()
    ]


def test_a_flip_a_b_a_takes_back_and_sends_again_with_no_confirmations(forks, pipeline, tenant_id, chain_id):
    a, b = forks
    proxy, flow = pipeline
    watched = new_address()
    in_a = deposit(a, watched, 111)  # block 1 of fork A
    mine(a, 1)
    in_b = deposit(b, watched, 222)  # block 1 of fork B, which grows longer
    mine(b, 2)
    a1, b1 = in_a["blockHash"], in_b["blockHash"]
    assert a1 != b1
    with WebhookReceiver() as receiver:
        monitor = create_monitor(
            tenant_id, chain_id, ["native_transfer"], [(watched, None)], confirmations=0, webhook_url=receiver.url
        )
        flow.poll()  # on A
        proxy.switch_upstream(b)
        flow.poll()  # failed over to B: A's blocks are replaced
        proxy.switch_upstream(a)
        flow.poll()  # back on A, the shorter fork: B's blocks are replaced, A's are back

        got = seen(receiver)
        (event_a,) = got[0][2]
        (event_b,) = got[2][2]
        assert event_a.startswith(f"{chain_id}:{a1}:") and event_b.startswith(f"{chain_id}:{b1}:")
        assert got == [
            (a1, False, [event_a]),
            (a1, True, [event_a]),
            (b1, False, [event_b]),
            (b1, True, [event_b]),
            (a1, False, [event_a]),  # the same block, by hash: A really came back
        ]
        assert flow.published(a1) == ["block", "revert", "block"]
        assert flow.published(b1) == ["block", "revert"]
        ids = [request.header("Blockhook-Delivery-Id") for request in receiver.requests]
        assert len(set(ids)) == len(ids) == 5  # a new delivery each time
        assert [payload["sequence"] for payload in receiver.payloads()] == [1, 2, 3, 4, 5]  # no gap, none twice

        recorded = sorted(record.delivery_id for record in deliveries_of(monitor))
        flow.replay()
        assert sorted(record.delivery_id for record in deliveries_of(monitor)) == recorded
        assert len(receiver.requests) == 5
        assert last_sequence(monitor.monitor_id, chain_id) == 5  # the replayed records consumed no number
    assert all(get_delivery(delivery_id).status == "delivered" for delivery_id in ids)


def test_a_flip_a_b_a_with_confirmations_sends_again_once_deep_enough(forks, pipeline, tenant_id, chain_id):
    a, b = forks
    proxy, flow = pipeline
    watched = new_address()
    in_a = deposit(a, watched, 333)  # block 1 of fork A, with two blocks on it
    mine(a, 2)
    in_b = deposit(b, watched, 444)  # block 1 of fork B, with one: never deep enough
    mine(b, 1)
    a1, b1 = in_a["blockHash"], in_b["blockHash"]
    with WebhookReceiver() as receiver:
        create_monitor(
            tenant_id, chain_id, ["native_transfer"], [(watched, None)], confirmations=2, webhook_url=receiver.url
        )
        flow.poll()
        assert [(h, removed) for h, removed, _ in seen(receiver)] == [(a1, False)]
        proxy.switch_upstream(b)
        flow.poll()  # B is behind A's checkpoint, on another branch: A is taken back
        assert [(h, removed) for h, removed, _ in seen(receiver)] == [(a1, False), (a1, True)]

        proxy.switch_upstream(a)
        flow.ingest.poll()  # A is back: its blocks are published again after B's reverts
        records = topic_records(flow.bootstrap, flow.topic)[flow.consumed :]
        messages = [decode(record.value) for record in records]
        back = [n for n, m in enumerate(messages) if isinstance(m, BlockMessage) and m.header.hash == a1]
        (a1_again,) = back
        flow.match(records[: a1_again + 2])  # A1 and one block on it: not deep enough yet
        assert len(receiver.requests) == 2
        flow.match(records[a1_again + 2 :])  # the second block on it
        flow.consumed += len(records)

        got = seen(receiver)
        (event_a,) = got[0][2]
        assert got == [(a1, False, [event_a]), (a1, True, [event_a]), (a1, False, [event_a])]
        assert b1 not in {h for h, _, _ in got}  # reverted while pending: never sent, nothing to take back
        ids = [request.header("Blockhook-Delivery-Id") for request in receiver.requests]
        assert len(set(ids)) == 3
        assert [payload["sequence"] for payload in receiver.payloads()] == [1, 2, 3]

        flow.replay()
        assert len(receiver.requests) == 3


class DiesAfterReverts(BlockProducer):
    """Ingest's producer, and ingest dying once just after the broker acknowledged its reverts."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reverts_sent = False
        self.died = False

    def send_revert(self, *args) -> None:
        self.reverts_sent = True
        super().send_revert(*args)

    def flush(self, timeout: float = 30.0) -> int:
        count = super().flush(timeout)
        if self.reverts_sent and not self.died:
            self.died = True
            raise ProduceFailed("ingest died after its reverts were acknowledged")
        return count


def test_a_block_reverted_by_a_poll_that_died_is_published_again_when_the_chain_comes_back(
    forks, pipeline, tenant_id, chain_id
):
    a, b = forks
    proxy, flow = pipeline
    watched = new_address()
    a1 = deposit(a, watched, 555)["blockHash"]
    mine(a, 1)
    mine(b, 3)
    flow.ingest.producer.close()
    flow.ingest.producer = DiesAfterReverts(flow.bootstrap, flow.topic)
    with WebhookReceiver() as receiver:
        create_monitor(
            tenant_id, chain_id, ["native_transfer"], [(watched, None)], confirmations=0, webhook_url=receiver.url
        )
        flow.poll()
        proxy.switch_upstream(b)
        with pytest.raises(ProduceFailed):
            flow.ingest.poll()  # A's blocks are reverted, then ingest dies
        flow.consume()  # what was published before it died reaches the matcher
        proxy.switch_upstream(a)  # and the chain is back on A before ingest runs again
        flow.poll()

        assert flow.published(a1) == ["block", "revert", "revert", "block"]  # the revert owed, then A again
        assert [(h, removed) for h, removed, _ in seen(receiver)] == [(a1, False), (a1, True), (a1, False)]


def test_a_node_behind_the_checkpoint_on_the_same_branch_reverts_nothing(forks, pipeline, tenant_id, chain_id):
    a, _ = forks
    proxy, flow = pipeline
    mine(a, 1)
    behind = rpc(a, "evm_snapshot", [])
    mine(a, 2)
    flow.poll()
    published = len(flow.messages)
    assert published == 4  # blocks 0..3

    assert rpc(a, "evm_revert", [behind]) is True  # the node is back at block 1 of the same branch
    flow.poll()
    assert len(flow.messages) == published  # a lagging node: nothing to revert, nothing new

    deposit(a, new_address(), 1)  # a new block 2, unlike the empty one it replaces: another branch
    mine(a, 2)
    flow.poll()
    reverts = [m.number for m in flow.messages[published:] if isinstance(m, RevertMessage)]
    blocks = [m.header.number for m in flow.messages[published:] if isinstance(m, BlockMessage)]
    assert (reverts, blocks) == ([3, 2], [2, 3, 4])
