"""The matcher's WatchIndex against DynamoDB on a real moto server: it follows added addresses
through the change records instead of rereading every address, and falls back to a full reload
only when a change's record does not appear."""

from __future__ import annotations

import pytest

from blockhook.matching.index import WatchIndex
from blockhook.store import monitors as monitor_store
from blockhook.store.models import MonitorAddressModel, VersionModel
from blockhook.store.versions import MONITORS_VERSION_KEY
from tests.support.builders import create_monitor, new_address

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_added_addresses_are_followed_without_rereading_every_address(moto_endpoint, tenant_id, chain_id):
    index = WatchIndex()
    first = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(first, None)])
    index.refresh()
    reloads = index.full_reloads

    added = [new_address() for _ in range(3)]
    monitor_store.add_addresses(monitor, [(address, "x") for address in added])
    assert index.refresh() is True

    assert index.full_reloads == reloads  # followed, not reread
    assert set(added) | {first} <= index.prefilter
    assert index.candidates([{"kind": "transaction", "from": added[0], "to": None}]) == {added[0]}
    assert index.watchers([added[0]])[added[0]][0].monitor_id == monitor.monitor_id


def test_a_removed_address_may_stay_a_candidate_but_matches_nobody(moto_endpoint, tenant_id, chain_id):
    index = WatchIndex()
    gone = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(gone, None), (new_address(), None)])
    index.refresh()
    monitor_store.remove_addresses(monitor, [gone])
    index.refresh()
    assert index.watchers([gone]).get(gone, []) == []


def test_a_change_without_its_record_is_waited_for_then_reloaded_in_full(moto_endpoint, tenant_id, chain_id):
    clock = Clock()
    index = WatchIndex(clock=clock)
    create_monitor(tenant_id, chain_id, ["transaction"], [(new_address(), None)])
    index.refresh()
    loaded, reloads = index.version, index.full_reloads

    # A version bump whose change record never comes (its writer died between the two writes).
    VersionModel(MONITORS_VERSION_KEY).update(actions=[VersionModel.version.add(1)])
    late = new_address()
    ghost = "mon_" + "0" * 24
    monitor_store._write_address_items(ghost, tenant_id, [MonitorAddressModel(ghost, late, added_at=0)])

    assert index.refresh() is False and index.version == loaded  # waits: the record may be on its way
    clock.now += WatchIndex.WAIT_FOR_CHANGE_SECONDS
    assert index.refresh() is True
    assert index.full_reloads == reloads + 1 and late in index.prefilter
    assert index.changes is None  # unknown changes: the catch-up covers every recent block
