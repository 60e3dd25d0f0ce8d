"""Changes of a monitor's address list against DynamoDB on a real moto server: each change
(adds and removes of one call) is seen whole by the matcher and the API, never half written;
an empty list matches nothing; a change that fails or dies never counts; concurrent duplicate
adds and removes count once."""

from __future__ import annotations

import threading
import time

import pytest

from blockhook.matching.index import WatchIndex
from blockhook.store import monitors as monitor_store
from blockhook.store.chain_state import record_head
from blockhook.store.models import MonitorAddressModel, MonitorModel
from tests.integration import test_matching_service
from tests.integration.test_matching_service import deliveries_of, payload_of
from tests.support.builders import Block, create_monitor, new_address

service = test_matching_service.service  # the fixture: a MatchService on the session's servers

pytestmark = pytest.mark.integration


def watched_by(index: WatchIndex, monitor: MonitorModel, *addresses: str) -> set[str]:
    """Which of `addresses` the index's current view says the monitor watches."""
    found = index.watchers(addresses)
    return {address for address in addresses if any(w.monitor_id == monitor.monitor_id for w in found.get(address, []))}


def listed(monitor: MonitorModel) -> dict[str, str | None]:
    """The monitor's addresses as the API lists them."""
    current = monitor_store.get_monitor(monitor.tenant_id, monitor.monitor_id)
    items, cursor = monitor_store.list_addresses(current, 1000, None)
    assert cursor is None
    return {item.address: item.label for item in items}


class Paused:
    """Holds an address change after it wrote its items and before it commits them."""

    def __init__(self, monkeypatch) -> None:
        self.written, self.go = threading.Event(), threading.Event()
        original = monitor_store._write_address_items

        def write_then_wait(*args, **kwargs):
            original(*args, **kwargs)
            self.written.set()
            assert self.go.wait(30)

        monkeypatch.setattr(monitor_store, "_write_address_items", write_then_wait)


def test_a_swap_is_seen_whole_by_the_matcher_and_the_api_never_half_written(moto_endpoint, tenant_id, chain_id, monkeypatch):
    a, b = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(a, "a")])
    index = WatchIndex()
    index.refresh()
    paused = Paused(monkeypatch)
    answer = {}
    change = threading.Thread(target=lambda: answer.update(result=monitor_store.change_addresses(monitor, [(b, "b")], [a])))
    change.start()
    try:
        assert paused.written.wait(30)
        # B's items are written and A's marked removed: a reader holding the list, or reading it
        # afresh now, still sees A alone.
        assert watched_by(index, monitor, a, b) == {a}
        fresh = WatchIndex()
        fresh.refresh()
        assert watched_by(fresh, monitor, a, b) == {a}
        assert listed(monitor) == {a: "a"}
    finally:
        paused.go.set()
        change.join(30)
    added, removed, stored = answer["result"]
    assert (added, removed, int(stored.address_count)) == (1, 1, 1)
    # The view that was loaded before keeps its version until the matcher refreshes: still A.
    assert watched_by(index, monitor, a, b) == {a}
    assert index.refresh() is True
    assert watched_by(index, monitor, a, b) == {b}
    assert listed(monitor) == {b: "b"}


def test_removing_the_last_address_leaves_a_monitor_that_matches_nothing(service, tenant_id, chain_id):
    only = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(only, None)])
    assert monitor_store.remove_addresses(monitor, [only]) == 1
    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    assert (monitor_store.address_scope(stored), int(stored.address_count)) == ("list", 0)

    block = Block(chain_id, number=40)
    block.transaction(0, only, new_address())
    block.transaction(1, new_address(), new_address())
    assert service.process(block.encode()).matches == 0
    assert deliveries_of(monitor) == []
    assert monitor.monitor_id not in {m.monitor_id for m in service.index.all_address_monitors}


def test_a_monitor_stored_before_the_scope_existed_is_a_list_monitor(service, tenant_id, chain_id):
    watched = new_address()
    with_addresses = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    without = create_monitor(tenant_id, chain_id, ["transaction"], [])
    for monitor in (with_addresses, without):  # as such monitors are stored: no scope, no list version
        monitor.update(actions=[MonitorModel.address_scope.remove(), MonitorModel.list_version.remove()])
    monitor_store.update_monitor(with_addresses, {})  # a change the matcher follows

    block = Block(chain_id, number=41)
    payment = block.transaction(0, new_address(), watched)
    block.transaction(1, new_address(), new_address())
    service.process(block.encode())
    (record,) = deliveries_of(with_addresses)
    assert [event["id"] for event in payload_of(record.delivery_id)["events"]] == [payment["id"]]
    assert deliveries_of(without) == []


def test_a_reader_older_than_a_remove_and_re_add_still_sees_the_address(moto_endpoint, tenant_id, chain_id):
    kept = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(kept, "k")])
    index = WatchIndex()
    index.refresh()
    for _ in range(3):
        monitor_store.remove_addresses(monitor, [kept])
        assert monitor_store.add_addresses(monitor, [(kept, None)]) == 1
    assert watched_by(index, monitor, kept) == {kept}  # the view of before the changes
    index.refresh()
    assert watched_by(index, monitor, kept) == {kept}
    assert listed(monitor) == {kept: None}  # added again without a label: a new address, no label kept


def test_re_adding_a_watched_address_keeps_its_label_unless_the_add_gives_one(moto_endpoint, tenant_id, chain_id):
    address = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(address, "customer-42")])
    assert monitor_store.add_addresses(monitor, [(address, None)]) == 0
    assert listed(monitor) == {address: "customer-42"}
    index = WatchIndex()
    index.refresh()
    assert index.watchers([address])[address][0].label == "customer-42"
    assert monitor_store.add_addresses(monitor, [(address, "customer-43")]) == 0
    assert listed(monitor) == {address: "customer-43"}
    assert index.watchers([address])[address][0].label == "customer-43"
    assert int(monitor_store.get_monitor(tenant_id, monitor.monitor_id).address_count) == 1


def test_a_change_that_fails_half_written_never_counts(moto_endpoint, tenant_id, chain_id, monkeypatch):
    a, b = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(a, None)])
    original = monitor_store._write_address_items

    def write_then_fail(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("the writer fails after its items are written")

    monkeypatch.setattr(monitor_store, "_write_address_items", write_then_fail)
    with pytest.raises(RuntimeError):
        monitor_store.change_addresses(monitor, [(b, None)], [a])
    monkeypatch.setattr(monitor_store, "_write_address_items", original)

    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    assert stored.list_pending is None and set(stored.list_aborted) == {1}
    assert int(stored.address_count) == 1 and listed(monitor) == {a: None}
    index = WatchIndex()
    index.refresh()
    assert watched_by(index, monitor, a, b) == {a}

    # The next change is counted in full, and B's item of the failed one does not come back with it.
    c = new_address()
    assert monitor_store.change_addresses(monitor, [(c, None)], [])[:2] == (1, 0)
    assert listed(monitor) == {a: None, c: None}
    index.refresh()
    assert watched_by(index, monitor, a, b, c) == {a, c}


def test_a_change_whose_writer_died_is_taken_over_once_its_lease_ran_out(moto_endpoint, tenant_id, chain_id):
    a, ghost = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(a, None)])
    # A change that took the list, wrote one item and died (a killed process leaves nothing else).
    monitor.update(actions=[MonitorModel.list_pending.set(1), MonitorModel.list_pending_at.set(int(time.time()))])
    monitor_store._write_address_items(
        monitor.monitor_id, tenant_id, [MonitorAddressModel(monitor.monitor_id, ghost, added_at=0, since=1)]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(monitor_store, "CHANGE_WAIT_SECONDS", 0.2)
        with pytest.raises(monitor_store.AddressChangeBusy):  # its lease still runs
            monitor_store.add_addresses(monitor, [(new_address(), None)])
    monitor.update(actions=[MonitorModel.list_pending_at.set(int(time.time()) - monitor_store.CHANGE_LEASE_SECONDS)])

    b = new_address()
    assert monitor_store.add_addresses(monitor, [(b, None)]) == 1
    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    assert set(stored.list_aborted) == {1} and int(stored.list_version) == 2 and int(stored.address_count) == 2
    assert listed(monitor) == {a: None, b: None}
    index = WatchIndex()
    index.refresh()
    assert watched_by(index, monitor, a, b, ghost) == {a, b}


def concurrently(calls: int, work) -> list:
    """Run `work` in `calls` threads released together; their results in thread order."""
    start = threading.Barrier(calls)
    results: list = [None] * calls

    def run(n: int) -> None:
        start.wait()
        results[n] = work()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_duplicate_removes_and_adds_count_once(moto_endpoint, tenant_id, chain_id, monkeypatch):
    # Each change waits for the others: on a busy machine three of them may outlast the usual wait, and a
    # change that gives up (AddressChangeBusy, 409 in the API) is not what this test is about.
    monkeypatch.setattr(monitor_store, "CHANGE_WAIT_SECONDS", 120.0)
    a, b, c = new_address(), new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(a, None), (b, None)])

    removed = concurrently(4, lambda: monitor_store.remove_addresses(monitor, [a]))
    assert sorted(removed) == [0, 0, 0, 1]
    assert int(monitor_store.get_monitor(tenant_id, monitor.monitor_id).address_count) == 1

    added = concurrently(4, lambda: monitor_store.add_addresses(monitor, [(c, None)]))
    assert sorted(added) == [0, 0, 0, 1]
    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    assert int(stored.address_count) == 2 and listed(monitor) == {b: None, c: None}
    assert stored.list_pending is None and not stored.list_aborted


def test_swaps_under_traffic_never_leave_a_block_without_the_list_nor_match_outside_it(
    service, queue_url, tenant_id, chain_id
):
    """A monitor's list is swapped between A and B while blocks holding payments to A, B and C
    are matched: each block is matched with A or with B, never neither (a moment with no
    address), and C, never listed, is never matched."""
    a, b, c = new_address(), new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(a, None)])
    record_head(chain_id, 1)
    blocks: list[Block] = []
    stop = threading.Event()
    swaps = []

    def swap() -> None:
        current, other = a, b
        while not stop.is_set():
            swaps.append(monitor_store.change_addresses(monitor, [(other, None)], [current])[:2])
            current, other = other, current

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for number in range(1, 41):
            block = Block(chain_id, number=number)
            for n, to in enumerate((a, b, c)):
                block.transaction(n, new_address(), to)
            blocks.append(block)
            record_head(chain_id, number)
            service.process(block.encode())
    finally:
        stop.set()
        swapper.join(60)
    assert len(swaps) >= 5 and all(swap == (1, 1) for swap in swaps)

    seen: dict[int, set[str]] = {}
    for record in deliveries_of(monitor):
        for event in payload_of(record.delivery_id)["events"]:
            assert event["matched_addresses"] in ([a], [b]), event
            seen.setdefault(event["block_number"], set()).update(event["matched_addresses"])
    assert all(seen.get(block.header.number) for block in blocks), {n: seen.get(n) for n in range(1, 41)}
    assert int(monitor_store.get_monitor(tenant_id, monitor.monitor_id).address_count) == 1
