"""Address scope and list versions, with no I/O: which monitors watch every party, and which
address items count for a given version of a monitor's list (store/monitors.py is_listed)."""

from __future__ import annotations

import pytest

from blockhook.matching.index import monitor_view
from blockhook.matching.matcher import MonitorView, Watcher, match_events
from blockhook.store.models import MonitorModel
from blockhook.store.monitors import SCOPE_ALL, SCOPE_LIST, address_scope, is_listed
from tests.support.builders import transaction

WATCHED, OTHER = "0x" + "aa" * 20, "0x" + "cc" * 20


def stored_monitor(**fields) -> MonitorModel:
    return MonitorModel(
        "t1", "mon_" + "0" * 24, name="m", chain_ids=[1], webhook_url="https://example.com/hook",
        kinds=["transaction"], sealed_secret="sealed", created_at=0, updated_at=0, **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "scope"),
    [
        ({"address_scope": SCOPE_ALL}, SCOPE_ALL),
        ({"address_scope": SCOPE_LIST, "address_count": 0}, SCOPE_LIST),
        ({"address_scope": SCOPE_LIST, "address_count": 3}, SCOPE_LIST),
        # Stored before the scope was: a list monitor, with or without addresses (never every party).
        ({"address_count": 3}, SCOPE_LIST),
        ({"address_count": 0}, SCOPE_LIST),
        ({}, SCOPE_LIST),
    ],
)
def test_the_scope_is_what_is_stored_and_a_monitor_stored_without_one_is_a_list_monitor(fields, scope):
    model = stored_monitor(**fields)
    assert address_scope(model) == scope
    assert monitor_view(model).watches_all_addresses is (scope == SCOPE_ALL)


def test_an_empty_list_matches_nothing_and_every_party_matches_everything():
    empty_list = monitor_view(stored_monitor(address_scope=SCOPE_LIST, address_count=0))
    legacy_empty = monitor_view(stored_monitor(address_count=0))
    everyone = monitor_view(stored_monitor(address_scope=SCOPE_ALL))
    events = [transaction(OTHER, WATCHED), transaction(OTHER, OTHER, tx_index=1)]
    lists = {empty_list.monitor_id: empty_list}
    assert match_events(events, lists, {}, []) == []
    assert match_events(events, {legacy_empty.monitor_id: legacy_empty}, {}, []) == []
    matched = match_events(events, {everyone.monitor_id: everyone}, {}, [everyone])
    assert [match.event["to"] for match in matched] == [WATCHED, OTHER]


def test_a_list_monitor_matches_only_its_watched_parties():
    view = MonitorView("m1", "t1", frozenset({1}), frozenset({"transaction"}))
    matched = match_events(
        [transaction(OTHER, WATCHED), transaction(OTHER, OTHER, tx_index=1)], {"m1": view}, {WATCHED: [Watcher("m1", "customer-7")]}
    )
    assert [(m.event["to"], m.matched_addresses, m.labels) for m in matched] == [
        (WATCHED, [WATCHED], {WATCHED: "customer-7"})
    ]


def test_the_view_carries_the_list_version_and_the_aborted_changes():
    view = monitor_view(stored_monitor(address_scope=SCOPE_LIST, list_version=7, list_aborted={3, 5}))
    assert (view.list_version, view.aborted_lists) == (7, frozenset({3, 5}))
    assert (monitor_view(stored_monitor()).list_version, monitor_view(stored_monitor()).aborted_lists) == (0, frozenset())


@pytest.mark.parametrize(
    ("since", "until", "earlier", "counted_at"),
    [
        (None, None, None, {0, 1, 2, 3, 4, 5, 6}),  # written before versions existed, or at creation
        (3, None, None, {3, 4, 5, 6}),  # added by change 3
        (None, 3, None, {0, 1, 2}),  # removed by change 3
        (2, 4, None, {2, 3}),  # added by 2, removed by 4
        # Removed by 3 and added again by 5: readers still at 0..2 count it, those at 3 and 4 do not.
        (5, None, [0, 3], {0, 1, 2, 5, 6}),
        (6, None, [1, 2, 4, 5], {1, 4, 6}),
    ],
)
def test_an_item_counts_for_the_versions_of_its_spans(since, until, earlier, counted_at):
    assert {v for v in range(7) if is_listed(since, until, v, frozenset(), earlier)} == counted_at


def test_an_aborted_change_never_counts_nor_do_its_removals():
    aborted = frozenset({4})
    assert not any(is_listed(4, None, version, aborted) for version in range(10))  # its adds
    assert all(is_listed(None, 4, version, aborted) for version in range(10))  # its removals
    assert all(is_listed(2, 4, version, aborted) for version in range(2, 10))
    assert is_listed(5, None, 6, aborted) and not is_listed(5, None, 4, aborted)  # the next change counts
