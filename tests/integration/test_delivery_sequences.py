"""Delivery sequences on a real moto server (DynamoDB transactions): per (monitor, chain) 1, 2, 3, ...
with no gaps across every origin of a delivery (live, removed, a block that comes back, backfill,
catch-up), none consumed by a repeat, none given twice when two writers race for one counter, and
GET /v1/monitors/{id} telling matched_through_block and last_sequence in agreement with the log."""

from __future__ import annotations

import json
import threading

import pytest

from blockhook.delivery.payload import build_payloads
from blockhook.store import deliveries as delivery_store
from blockhook.store import monitors as monitor_store
from blockhook.store.chain_state import record_head
from blockhook.store.deliveries import delivery_payload, last_sequence, record_deliveries
from blockhook.store.matches import matcher_progress
from blockhook.streaming.codec import BackfillTarget, encode_revert
from tests.integration.test_delivery_routes import CHAIN_ID, UNUSED_URL
from tests.integration.test_delivery_routes import api as api  # noqa: F401 - a fixture
from tests.integration.test_delivery_service import drain
from tests.integration.test_matching_service import deliveries_of
from tests.integration.test_matching_service import service as service  # noqa: F401 - a fixture
from tests.support.builders import Block, create_monitor, new_address

pytestmark = pytest.mark.integration


def numbered_log(monitor) -> list[tuple[int, int, bool]]:
    """(sequence, block number, removed) of every delivery of the monitor, by sequence; each recorded
    sequence is also the one in the body that is posted."""
    records = sorted(deliveries_of(monitor), key=lambda record: int(record.sequence))
    for record in records:
        assert json.loads(delivery_payload(record))["sequence"] == int(record.sequence)
    return [(int(r.sequence), int(r.block_number), bool(r.removed)) for r in records]


def transactions(block: Block, sender: str, count: int) -> None:
    for n in range(count):
        block.transaction(n, sender, new_address())


def test_every_origin_of_a_delivery_takes_the_next_number_and_a_repeat_takes_none(
    service, queue_url, tenant_id, chain_id  # noqa: F811 - the fixture
):
    watched, late = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    live = Block(chain_id, number=10)
    transactions(live, watched, 1)
    big = Block(chain_id, number=11)
    transactions(big, watched, 150)  # two deliveries of one block: 100 events and 50
    service.process([*live.encode(), *big.encode()])  # 1; 2, 3
    service.process([encode_revert(chain_id, 11, big.header.hash)])  # 4, 5: taken back
    service.process(big.encode())  # 6, 7: the block is back
    past = Block(chain_id, number=5)
    transactions(past, watched, 1)
    backfill = past.encode(backfill=BackfillTarget(monitor.monitor_id, "job-1"))
    service.process(backfill)  # 8
    head = Block(chain_id, number=12)
    head.transaction(0, late, new_address())
    service.process(head.encode())
    record_head(chain_id, 12)
    monitor_store.add_addresses(monitor, [(late, None)])
    service.process([])  # 9: block 12 caught up for the address added at its head

    expected = [
        (1, 10, False), (2, 11, False), (3, 11, False), (4, 11, True), (5, 11, True),
        (6, 11, False), (7, 11, False), (8, 5, False), (9, 12, False),
    ]  # fmt: skip
    assert numbered_log(monitor) == expected
    assert last_sequence(monitor.monitor_id, chain_id) == 9
    by_sequence = sorted(deliveries_of(monitor), key=lambda record: int(record.sequence))
    assert [int(r.created_at) for r in by_sequence] == sorted(int(r.created_at) for r in by_sequence)
    queued = drain(queue_url)

    # The same records again (a retried batch): every delivery is found, no number is consumed.
    service.process([*live.encode(), *big.encode(), *backfill])
    assert numbered_log(monitor) == expected
    assert last_sequence(monitor.monitor_id, chain_id) == 9
    assert set(drain(queue_url)) <= set(queued)  # queued again at most: nothing new


def deliveries_payloads(monitor_id: str, chain_id: int, events: int, number: int = 7) -> list[dict]:
    header = Block(chain_id, number).header
    items = [{"id": f"e{n}", "kind": "transaction", "tx_index": n, "log_index": None} for n in range(events)]
    return build_payloads(monitor_id, chain_id, header.as_payload_block(), items, removed=False)


def test_deliveries_recorded_before_a_crash_keep_their_numbers_and_the_rest_take_the_next(moto_endpoint, chain_id):
    monitor_id = "mon_seq_" + new_address()[2:12]
    payloads = deliveries_payloads(monitor_id, chain_id, 250)  # three deliveries
    # A crash after the first was recorded: the retry finds it and numbers only the others.
    ((first, created),) = record_deliveries("tenant", payloads[:1])
    assert created and int(first.sequence) == 1

    recorded = record_deliveries("tenant", payloads)

    assert [(int(r.sequence), created) for r, created in recorded] == [(1, False), (2, True), (3, True)]
    assert [json.loads(delivery_payload(r))["sequence"] for r, _ in recorded] == [1, 2, 3]
    assert last_sequence(monitor_id, chain_id) == 3


def test_more_deliveries_than_one_transaction_holds_are_numbered_in_order(moto_endpoint, chain_id, monkeypatch):
    monkeypatch.setattr(delivery_store, "MAX_DELIVERIES_PER_TRANSACTION", 2)
    monitor_id = "mon_seq_" + new_address()[2:12]
    payloads = deliveries_payloads(monitor_id, chain_id, 450)  # five deliveries, three transactions

    recorded = record_deliveries("tenant", payloads)

    assert [(r.delivery_id, int(r.sequence)) for r, _ in recorded] == [(p["id"], n) for n, p in enumerate(payloads, 1)]
    assert last_sequence(monitor_id, chain_id) == 5
    assert [created for _, created in record_deliveries("tenant", payloads)] == [False] * 5
    assert last_sequence(monitor_id, chain_id) == 5


def test_two_writers_racing_for_one_counter_number_one_to_n(moto_endpoint, chain_id, monkeypatch):
    """Writer A reads the counter, then writer B numbers and records its deliveries before A writes:
    A's transaction finds the counter moved, writes nothing, reads it again and takes the next numbers.

    The interleaving is forced (A waits between its read and its write) rather than left to chance:
    the moto server does not isolate concurrent transactions as DynamoDB does, so two transactions in
    flight at once there would test moto, not this code."""
    monitor_id = "mon_seq_" + new_address()[2:12]
    ours = deliveries_payloads(monitor_id, chain_id, 1, number=20)
    theirs = deliveries_payloads(monitor_id, chain_id, 150, number=21)
    read, written = threading.Event(), threading.Event()
    reads: list[tuple[str, int]] = []
    real_read = delivery_store.last_sequence

    def read_then_wait(monitor: str, chain: int) -> int:
        value = real_read(monitor, chain)
        reads.append((threading.current_thread().name, value))
        if threading.current_thread().name == "writer-a" and not read.is_set():
            read.set()
            assert written.wait(30)
        return value

    monkeypatch.setattr(delivery_store, "last_sequence", read_then_wait)
    results: dict[str, list] = {}

    def write(name: str, payloads: list[dict]) -> None:
        results[name] = record_deliveries("tenant", payloads)

    a = threading.Thread(target=write, args=("a", ours), name="writer-a")
    a.start()
    assert read.wait(30)
    b = threading.Thread(target=write, args=("b", theirs), name="writer-b")
    b.start()
    b.join(30)
    written.set()
    a.join(30)

    assert [int(r.sequence) for r, _ in results["b"]] == [1, 2]
    assert [int(r.sequence) for r, _ in results["a"]] == [3]
    assert reads == [("writer-a", 0), ("writer-b", 0), ("writer-a", 2)]  # A lost the race once, then won
    assert all(created for name in "ab" for _, created in results[name])
    assert last_sequence(monitor_id, chain_id) == 3


def test_get_monitor_tells_where_its_deliveries_stand_on_each_chain(api, service, tenant_id):  # noqa: F811
    watched = new_address()
    answer = api.call(
        "POST",
        "/v1/monitors",
        {
            "name": "sequences",
            "chain_ids": [CHAIN_ID],
            "webhook_url": UNUSED_URL,
            "filters": {"kinds": ["transaction"], "addresses": [watched]},
            "confirmations": 2,
        },
    )
    monitor = answer.body
    assert answer.status == 201, answer.raw
    start = (matcher_progress(CHAIN_ID) or 0) + 1000
    blocks = [Block(CHAIN_ID, number=start + n) for n in range(5)]
    for block in blocks:
        transactions(block, watched, 1)

    service.process([message for block in blocks[:2] for message in block.encode()])
    (chain,) = api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]
    assert chain == {"chain_id": CHAIN_ID, "matched_through_block": start - 1, "last_sequence": 0}

    service.process([message for block in blocks[2:] for message in block.encode()])
    (chain,) = api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]
    # Progress is start + 4; with 2 confirmations the blocks up to start + 2 are released.
    assert chain == {"chain_id": CHAIN_ID, "matched_through_block": start + 2, "last_sequence": 3}
    log = api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries").body["items"]
    assert sorted((item["sequence"], item["block_number"]) for item in log) == [
        (1, start), (2, start + 1), (3, start + 2),
    ]  # fmt: skip


def test_an_address_added_at_the_head_holds_back_the_blocks_it_is_owed_until_they_are_caught_up(
    api, service, tenant_id  # noqa: F811 - the fixtures
):
    watched, late = new_address(), new_address()
    answer = api.call(
        "POST",
        "/v1/monitors",
        {
            "name": "sequences",
            "chain_ids": [CHAIN_ID],
            "webhook_url": UNUSED_URL,
            "filters": {"kinds": ["transaction"], "addresses": [watched]},
            "confirmations": 0,
        },
    )
    monitor = answer.body
    assert answer.status == 201, answer.raw
    first = (matcher_progress(CHAIN_ID) or 0) + 1000
    blocks = [Block(CHAIN_ID, number=first), Block(CHAIN_ID, number=first + 1)]
    for block in blocks:
        block.transaction(0, watched, new_address())
        block.transaction(1, late, new_address())  # not watched yet
    service.process([message for block in blocks for message in block.encode()])
    path = f"/v1/monitors/{monitor['id']}"
    assert api.call("GET", path).body["chains"] == [
        {"chain_id": CHAIN_ID, "matched_through_block": first + 1, "last_sequence": 2}
    ]

    # Ingest had recorded the head `first` when the address is added: it is matched from there, and the
    # matcher, already past it, owes `first` and `first + 1` a catch-up. Until it is made they are not
    # promised.
    record_head(CHAIN_ID, first)
    assert api.call("POST", path + "/addresses", {"add": [late]}).status == 200
    assert api.call("GET", path).body["chains"][0]["matched_through_block"] == first - 1

    service.process([])
    assert api.call("GET", path).body["chains"] == [
        {"chain_id": CHAIN_ID, "matched_through_block": first + 1, "last_sequence": 4}
    ]
    log = api.call("GET", path + "/deliveries").body["items"]
    assert sorted((item["sequence"], item["block_number"]) for item in log) == [
        (1, first), (2, first + 1), (3, first), (4, first + 1),
    ]  # fmt: skip


def test_a_stale_guess_of_the_counter_costs_a_retry_never_a_wrong_number(moto_endpoint, chain_id, monkeypatch):
    """The process numbers from the value it committed last, without reading it; another writer (another
    process) may have moved the counter since: the transaction's condition finds it out."""
    monitor_id = "mon_seq_" + new_address()[2:12]
    first = deliveries_payloads(monitor_id, chain_id, 1, number=30)
    second = deliveries_payloads(monitor_id, chain_id, 1, number=31)
    third = deliveries_payloads(monitor_id, chain_id, 1, number=32)
    reads: list[int] = []
    real_read = delivery_store.last_sequence

    def counted_read(monitor: str, chain: int) -> int:
        reads.append(real_read(monitor, chain))
        return reads[-1]

    monkeypatch.setattr(delivery_store, "last_sequence", counted_read)
    record_deliveries("tenant", first)
    record_deliveries("tenant", second)
    assert reads == [0]  # the second numbering used the value the first committed

    delivery_store._known_last.put((monitor_id, chain_id), 1)  # as if another process wrote 2 since
    ((record, created),) = record_deliveries("tenant", third)

    assert (int(record.sequence), created) == (3, True)
    assert reads == [0, 2]
    assert last_sequence(monitor_id, chain_id) == 3


def test_a_monitor_waiting_for_the_safe_block_is_matched_through_the_safe_block_the_matcher_released_by(
    api, service, tenant_id  # noqa: F811
):
    watched = new_address()
    answer = api.call(
        "POST",
        "/v1/monitors",
        {"name": "safe", "chain_ids": [CHAIN_ID], "webhook_url": UNUSED_URL,
         "filters": {"kinds": ["transaction"], "addresses": [watched]}, "confirmations": "safe"},
    )  # fmt: skip
    monitor = answer.body
    assert answer.status == 201, answer.raw
    start = (matcher_progress(CHAIN_ID) or 0) + 1000
    blocks = [Block(CHAIN_ID, number=start + n) for n in range(4)]
    for block in blocks:
        transactions(block, watched, 1)

    service.process([m for block in blocks[:2] for m in block.encode(finality={"safe": start - 1})])
    (chain,) = api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]
    assert chain == {"chain_id": CHAIN_ID, "matched_through_block": start - 1, "last_sequence": 0}

    service.process([m for block in blocks[2:] for m in block.encode(finality={"safe": start + 2})])
    (chain,) = api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]
    # Progress is start + 3, the safe block start + 2: the blocks up to it are released, numbered 1..3.
    assert chain == {"chain_id": CHAIN_ID, "matched_through_block": start + 2, "last_sequence": 3}
