"""Confirmations and reorgs in the matcher, against DynamoDB and SQS on a real moto server.

CONTRACT section 4: a monitor with `confirmations: N` is sent a block's events once N
blocks stand on top of it; a block whose events were sent and is then replaced gets a
`"removed": true` delivery with the same event ids; one not yet sent gets nothing."""

from __future__ import annotations

import boto3
import pytest

from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import MatchService, TopicRecord
from blockhook.store import matches as match_store
from blockhook.store.matches import matcher_progress
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import encode_revert
from tests.integration.test_matching_service import deliveries_of, drain, payload_of
from tests.support.builders import Block, create_monitor, new_address

pytestmark = pytest.mark.integration


@pytest.fixture
def service(queue_url):
    deliveries = DeliveryService(
        DeliveryQueue(queue_url, client=boto3.client("sqs")), schedule=(1, 2), allow_private_webhooks=True, box=configured_secret_box()
    )
    # The chain default applies to monitors whose confirmations are null.
    return MatchService(WatchIndex(), deliveries, default_confirmations=lambda _chain_id: 3)


def chain(on_chain: int, start: int, length: int) -> list[Block]:
    """Consecutive blocks, each one's parent the one before."""
    blocks = []
    for number in range(start, start + length):
        block = Block(on_chain, number)
        if blocks:
            block.header = block.header.__class__(
                on_chain, number, block.header.hash, blocks[-1].header.hash, block.header.timestamp
            )
        blocks.append(block)
    return blocks


def feed(service: MatchService, blocks: list[Block]):
    for block in blocks:
        service.process(block.encode())


class Topic:
    """The records of one partition of the blocks topic, as the matcher function hands them on."""

    def __init__(self) -> None:
        self.records: list[TopicRecord] = []

    def append(self, values: list[bytes]) -> list[TopicRecord]:
        added = [TopicRecord(value, "blocks-0", len(self.records) + n) for n, value in enumerate(values)]
        self.records += added
        return added

    def blocks(self, blocks: list[Block]) -> list[TopicRecord]:
        return self.append([value for block in blocks for value in block.encode()])

    def reverts(self, blocks: list[Block]) -> list[TopicRecord]:
        """Reverts of `blocks`, newest first, as ingest publishes them."""
        return self.append([encode_revert(b.header.chain_id, b.header.number, b.header.hash) for b in reversed(blocks)])


def on_topic(values: list[bytes]) -> list[TopicRecord]:
    return Topic().append(values)


def history(monitor) -> list[tuple[str, bool, list[str], str]]:
    """The monitor's deliveries in the order they were created: (block hash, removed, event ids, id)."""
    records = sorted(deliveries_of(monitor), key=lambda record: (record.created_at, record.delivery_id))
    payloads = [payload_of(record.delivery_id) for record in records]
    return [(p["block"]["hash"], p["removed"], [e["id"] for e in p["events"]], p["id"]) for p in payloads]


def test_a_match_is_held_until_enough_blocks_stand_on_it(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=2)
    blocks = chain(chain_id, 100, 3)
    deposit = blocks[0].transaction(0, new_address(), watched)

    feed(service, blocks[:2])
    assert deliveries_of(monitor) == [] and drain(queue_url) == []  # one block on top: not yet

    feed(service, blocks[2:])
    (record,) = deliveries_of(monitor)
    assert drain(queue_url) == [record.delivery_id]
    payload = payload_of(record.delivery_id)
    assert payload["block"]["number"] == 100 and payload["removed"] is False
    assert [event["id"] for event in payload["events"]] == [deposit["id"]]
    assert matcher_progress(chain_id) == 102


def test_null_confirmations_take_the_chains_default(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=None)
    blocks = chain(chain_id, 10, 4)
    blocks[0].transaction(0, new_address(), watched)

    feed(service, blocks[:3])
    assert deliveries_of(monitor) == []
    feed(service, blocks[3:])  # the default is 3
    assert len(deliveries_of(monitor)) == 1


def test_a_sent_block_that_is_replaced_gets_a_removed_delivery_with_the_same_events(
    service, queue_url, tenant_id, chain_id
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction", "native_transfer"], [(watched, None)])
    (block,) = chain(chain_id, 50, 1)
    block.transaction(0, new_address(), watched)
    service.process(block.encode())
    (sent,) = deliveries_of(monitor)
    drain(queue_url)

    service.process([encode_revert(chain_id, 50, block.header.hash)])

    records = deliveries_of(monitor)
    (removal,) = [record for record in records if record.delivery_id != sent.delivery_id]
    assert drain(queue_url) == [removal.delivery_id]
    original, removed = payload_of(sent.delivery_id), payload_of(removal.delivery_id)
    assert removed["removed"] is True and original["removed"] is False
    assert [e["id"] for e in removed["events"]] == [e["id"] for e in original["events"]]
    assert removed["block"] == original["block"]
    assert matcher_progress(chain_id) == 49


def test_a_pending_block_that_is_replaced_is_never_sent(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=2)
    old = chain(chain_id, 200, 2)
    old[0].transaction(0, new_address(), watched)
    feed(service, old)

    service.process([encode_revert(chain_id, 201, old[1].header.hash), encode_revert(chain_id, 200, old[0].header.hash)])
    feed(service, chain(chain_id, 200, 5))  # the new branch, long enough to have released block 200

    assert deliveries_of(monitor) == [] and drain(queue_url) == []


def test_the_new_branch_is_delivered_after_a_reorg(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=0)
    (old,) = chain(chain_id, 300, 1)
    old.transaction(0, new_address(), watched)
    service.process(old.encode())
    service.process([encode_revert(chain_id, 300, old.header.hash)])
    (new,) = chain(chain_id, 300, 1)
    moved = new.transaction(0, new_address(), watched)  # the transaction, now in another block
    service.process(new.encode())

    payloads = [payload_of(record.delivery_id) for record in deliveries_of(monitor)]
    assert sorted((p["block"]["hash"], p["removed"]) for p in payloads) == sorted(
        [(old.header.hash, False), (old.header.hash, True), (new.header.hash, False)]
    )
    (current,) = [p for p in payloads if p["block"]["hash"] == new.header.hash]
    assert [e["id"] for e in current["events"]] == [moved["id"]]


def test_repeated_blocks_and_reverts_record_nothing_new(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=1)
    blocks = chain(chain_id, 400, 2)
    blocks[0].transaction(0, new_address(), watched)
    revert = encode_revert(chain_id, 400, blocks[0].header.hash)
    messages = on_topic([*blocks[0].encode(), *blocks[1].encode(), revert])

    service.process(messages)
    first = sorted(record.delivery_id for record in deliveries_of(monitor))
    service.process(messages)  # the event source hands the same records again

    assert sorted(record.delivery_id for record in deliveries_of(monitor)) == first
    assert len(first) == 2  # the release of block 400 and its removal


def test_a_block_that_comes_back_is_sent_again_each_time_in_a_new_delivery(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=0)
    (a,) = chain(chain_id, 500, 1)
    (b,) = chain(chain_id, 500, 1)
    in_a = a.transaction(0, new_address(), watched)
    in_b = b.transaction(0, new_address(), watched)
    topic = Topic()

    service.process(topic.blocks([a]))
    for _ in range(2):  # A, B, A, B, A
        service.process(topic.reverts([a]) + topic.blocks([b]))
        service.process(topic.reverts([b]) + topic.blocks([a]))

    seen = history(monitor)
    a_hash, b_hash = a.header.hash, b.header.hash
    assert [(block, removed, events) for block, removed, events, _ in seen] == [
        (a_hash, False, [in_a["id"]]),
        (a_hash, True, [in_a["id"]]),
        (b_hash, False, [in_b["id"]]),
        (b_hash, True, [in_b["id"]]),
        (a_hash, False, [in_a["id"]]),
        (a_hash, True, [in_a["id"]]),
        (b_hash, False, [in_b["id"]]),
        (b_hash, True, [in_b["id"]]),
        (a_hash, False, [in_a["id"]]),
    ]
    assert len({delivery_id for *_, delivery_id in seen}) == len(seen)  # each one a delivery of its own
    assert sorted(drain(queue_url)) == sorted(delivery_id for *_, delivery_id in seen)

    # The event source hands every record again, from the first: nothing new is recorded (a delivery
    # never attempted yet may be queued again: its attempt claim lets only one message post it).
    service.process(topic.records)
    service.process(topic.records[3:])
    assert history(monitor) == seen
    assert set(drain(queue_url)) <= {delivery_id for *_, delivery_id in seen}


def test_a_block_reverted_while_pending_is_sent_once_deep_enough_when_it_comes_back(
    service, queue_url, tenant_id, chain_id
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=2)
    a = chain(chain_id, 600, 4)
    b = chain(chain_id, 600, 3)
    in_a = a[0].transaction(0, new_address(), watched)
    in_b = b[0].transaction(0, new_address(), watched)
    topic = Topic()

    service.process(topic.blocks(a[:2]))  # one block on A's: not deep enough
    service.process(topic.reverts(a[:2]) + topic.blocks(b))  # B's is, and is sent
    service.process(topic.reverts(b) + topic.blocks(a[:2]))  # A is back: not deep enough yet
    assert [(h, removed) for h, removed, *_ in history(monitor)] == [(b[0].header.hash, False), (b[0].header.hash, True)]

    service.process(topic.blocks(a[2:]))
    seen = history(monitor)
    assert [(h, removed, events) for h, removed, events, _ in seen] == [
        (b[0].header.hash, False, [in_b["id"]]),
        (b[0].header.hash, True, [in_b["id"]]),
        (a[0].header.hash, False, [in_a["id"]]),
    ]
    service.process(topic.records)
    assert history(monitor) == seen


def test_a_sent_block_that_comes_back_waits_for_its_confirmations_again(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=2)
    a = chain(chain_id, 700, 3)
    b = chain(chain_id, 700, 1)
    in_a = a[0].transaction(0, new_address(), watched)
    topic = Topic()

    service.process(topic.blocks(a))
    service.process(topic.reverts(a) + topic.blocks(b))
    assert [removed for _, removed, *_ in history(monitor)] == [False, True]

    service.process(topic.reverts(b) + topic.blocks(a[:2]))
    assert [removed for _, removed, *_ in history(monitor)] == [False, True]  # one block on it: not yet
    service.process(topic.blocks(a[2:]))
    seen = history(monitor)
    assert [(h, removed, events) for h, removed, events, _ in seen] == [
        (a[0].header.hash, False, [in_a["id"]]),
        (a[0].header.hash, True, [in_a["id"]]),
        (a[0].header.hash, False, [in_a["id"]]),
    ]
    assert seen[0][3] != seen[2][3]
    service.process(topic.records)
    assert history(monitor) == seen


def test_each_chunk_of_a_block_that_comes_back_is_sent_again(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=0)
    (a,) = chain(chain_id, 800, 1)
    (b,) = chain(chain_id, 800, 1)
    for tx_index in range(40):
        a.transaction(tx_index, new_address(), watched)
    chunks = a.encode(limit=4_000)
    assert len(chunks) > 1
    topic = Topic()

    service.process(topic.append(chunks))
    first = history(monitor)
    assert len(first) == len(chunks)
    service.process(topic.reverts([a]) + topic.blocks([b]) + topic.reverts([b]) + topic.append(chunks))

    seen = history(monitor)
    events = sorted(event for _, _, ids, _ in first for event in ids)
    for removed, count in ((False, 2), (True, 1)):
        taken = [ids for h, r, ids, _ in seen if h == a.header.hash and r is removed]
        assert len(taken) == count * len(chunks)
        assert sorted(event for ids in taken for event in ids) == sorted(events * count)
    assert seen[-len(chunks):] != first and all(not r for _, r, *_ in seen[-len(chunks):])
    service.process(topic.records)
    assert history(monitor) == seen


def test_a_match_released_by_a_run_that_stopped_before_settling_it_is_taken_back_on_a_revert(
    service, queue_url, tenant_id, chain_id, monkeypatch
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=1)
    blocks = chain(chain_id, 900, 2)
    blocks[0].transaction(0, new_address(), watched)
    settle = match_store.settle

    def throttled_when_released(item, status, expected, position=None):
        if status == "sent":
            raise RuntimeError("ProvisionedThroughputExceededException")
        return settle(item, status, expected, position)

    service.process(blocks[0].encode())
    monkeypatch.setattr(match_store, "settle", throttled_when_released)
    with pytest.raises(RuntimeError):
        service.process(blocks[1].encode())  # the release is recorded and queued, its match not settled
    monkeypatch.setattr(match_store, "settle", settle)
    ((sent_hash, sent_removed, events, _),) = history(monitor)
    assert (sent_hash, sent_removed) == (blocks[0].header.hash, False)

    service.process([encode_revert(chain_id, 901, blocks[1].header.hash), encode_revert(chain_id, 900, sent_hash)])
    assert [(h, removed, ids) for h, removed, ids, _ in history(monitor)] == [
        (sent_hash, False, events),
        (sent_hash, True, events),  # what was sent is taken back, though its match never said `sent`
    ]


# --- confirmations "safe" and "finalized" -------------------------------------------------------


def with_finality(block: Block, **heads: int) -> list[bytes]:
    """The block's messages as ingest publishes them: with the node's safe / finalized heads of that moment."""
    return block.encode(finality=heads)


@pytest.mark.parametrize("tag", ["safe", "finalized"])
def test_a_match_waits_until_the_nodes_tag_covers_its_block(service, queue_url, tenant_id, chain_id, tag):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=None, finality=tag)
    other = "finalized" if tag == "safe" else "safe"
    blocks = chain(chain_id, 200, 4)
    deposit = blocks[0].transaction(0, new_address(), watched)

    service.process(with_finality(blocks[0], **{tag: 198, other: 200}))  # the other tag does not count
    service.process(with_finality(blocks[1], **{tag: 199}))
    service.process(with_finality(blocks[2]))  # a node that stopped saying: nothing is released on a guess
    assert deliveries_of(monitor) == [] and drain(queue_url) == []

    service.process(with_finality(blocks[3], **{tag: 200}))
    (record,) = deliveries_of(monitor)
    assert drain(queue_url) == [record.delivery_id]
    assert [e["id"] for e in payload_of(record.delivery_id)["events"]] == [deposit["id"]]


def test_a_block_its_tag_already_covers_is_sent_at_once_and_a_reverted_one_never(
    service, queue_url, tenant_id, chain_id
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], confirmations=None,
                             finality="safe")  # fmt: skip
    old, fresh = chain(chain_id, 300, 2)
    old.transaction(0, new_address(), watched)
    fresh.transaction(0, new_address(), watched)

    service.process(with_finality(old, safe=305))  # a catch-up: the node's safe block is past it already
    (sent,) = deliveries_of(monitor)
    assert payload_of(sent.delivery_id)["block"]["number"] == 300

    service.process(with_finality(fresh, safe=300))
    service.process([encode_revert(chain_id, 301, fresh.header.hash)])
    replacement = Block(chain_id, 301)
    service.process(with_finality(replacement, safe=302))
    assert [r.delivery_id for r in deliveries_of(monitor)] == [sent.delivery_id]  # nothing of the reverted block
