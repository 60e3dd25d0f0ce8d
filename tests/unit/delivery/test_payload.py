import json
import random

import pytest

from blockhook.delivery.payload import (
    MAX_EVENTS_PER_DELIVERY,
    build_payloads,
    delivery_id,
    encode_body,
    event_sort_key,
)

BLOCK = {
    "number": 21000000,
    "hash": "0x" + "ab" * 32,
    "parent_hash": "0x" + "cd" * 32,
    "timestamp": 1730000000,
    "transactions": ["not part of the payload"],
}


def make_event(tx_index, log_index, kind=None):
    kind = kind or ("transaction" if log_index is None else "log")
    suffix = "tx" if log_index is None else log_index
    return {
        "id": f"1:{BLOCK['hash']}:{tx_index}:{suffix}:{kind}",
        "kind": kind,
        "tx_index": tx_index,
        "log_index": log_index,
        "matched_addresses": ["0x" + "11" * 20],
        "labels": {"0x" + "11" * 20: "customer-42"},
    }


def many_events(count):
    # tx_index i // 3, log_index None for the first of each transaction, then 0, 1.
    events = []
    for n in range(count):
        tx, position = divmod(n, 3)
        events.append(make_event(tx, None if position == 0 else tx * 10 + position))
    return events


# Expected ids computed independently: printf '%s' 'mon_1:0xabc:false:0' | sha256sum | cut -c1-32
@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("mon_1", "0xabc", False, 0), "dlv_708865b8f6f3148e1265f2161a46752f"),
        (("mon_1", "0xabc", True, 0), "dlv_5fdf9289be32dfe336bc6128f7df66a5"),
        (("mon_1", "0xabc", False, 1), "dlv_f9ef41ace791b8d85cddcb40ee52c198"),
        (("mon_2", "0xabc", False, 0), "dlv_26cb73ad8b8b2ec413accb10f3642122"),
        (("mon_1", "0xabd", False, 0), "dlv_b5ba886c981010e08298c638c7bc4a26"),
    ],
)
def test_delivery_id_known_values(parts, expected):
    assert delivery_id(*parts) == expected


def test_delivery_id_is_deterministic_and_differs_by_each_part():
    base = ("mon_1", "0x" + "ab" * 32, False, 0)
    variants = [
        base,
        ("mon_2", *base[1:]),
        (base[0], "0x" + "ac" * 32, *base[2:]),
        (*base[:2], True, base[3]),
        (*base[:3], 1),
        (*base, 1),
        (*base[:2], True, base[3], 1),
        (*base, 2),
    ]
    ids = [delivery_id(*variant) for variant in variants]
    assert len(set(ids)) == len(variants)
    assert ids == [delivery_id(*variant) for variant in variants]
    assert all(value.startswith("dlv_") and len(value) == 4 + 32 for value in ids)


def test_delivery_id_ignores_block_hash_case():
    assert delivery_id("mon_1", "0xABC", False, 0) == delivery_id("mon_1", "0xabc", False, 0)


@pytest.mark.parametrize("chunk", [-1, 1.0, "0", True])
def test_delivery_id_refuses_bad_chunk(chunk):
    with pytest.raises(ValueError):
        delivery_id("mon_1", "0xabc", False, chunk)


def test_generation_zero_keeps_the_id_of_a_block_seen_once():
    assert delivery_id("mon_1", "0xabc", False, 0, 0) == delivery_id("mon_1", "0xabc", False, 0)
    assert delivery_id("mon_1", "0xabc", False, 0, 1) != delivery_id("mon_1", "0xabc", False, 0)


@pytest.mark.parametrize("generation", [-1, 1.0, "1", True, None])
def test_delivery_id_refuses_bad_generation(generation):
    with pytest.raises(ValueError):
        delivery_id("mon_1", "0xabc", False, 0, generation)


def test_payloads_of_a_later_generation_have_ids_of_their_own():
    events = [make_event(n, None) for n in range(150)]
    first = build_payloads("mon_1", 1, BLOCK, events, removed=False)
    again = build_payloads("mon_1", 1, BLOCK, events, removed=False, generation=1)
    assert [p["id"] for p in again] == [delivery_id("mon_1", BLOCK["hash"], False, n, 1) for n in range(2)]
    assert not {p["id"] for p in first} & {p["id"] for p in again}
    assert [p["events"] for p in first] == [p["events"] for p in again]


def test_event_sort_key_orders_by_tx_then_log_with_none_first():
    events = [
        make_event(2, 7),
        make_event(0, 3),
        make_event(1, None),
        make_event(0, None),
        make_event(10, 0),
        make_event(1, 1),
        make_event(0, 0),
        make_event(2, None),
    ]
    ordered = sorted(events, key=event_sort_key)
    assert [(e["tx_index"], e["log_index"]) for e in ordered] == [
        (0, None),
        (0, 0),
        (0, 3),
        (1, None),
        (1, 1),
        (2, None),
        (2, 7),
        (10, 0),
    ]


def test_event_sort_key_puts_a_transaction_before_what_it_moved():
    native = make_event(4, None, kind="native_transfer")
    transaction = make_event(4, None, kind="transaction")
    ordered = sorted([native, transaction], key=event_sort_key)
    assert [e["kind"] for e in ordered] == ["transaction", "native_transfer"]


@pytest.mark.parametrize(
    "event",
    [
        {"id": "x", "tx_index": "1", "log_index": 0},
        {"id": "x", "tx_index": 1, "log_index": "0"},
        {"id": "x", "tx_index": True, "log_index": None},
    ],
)
def test_event_sort_key_refuses_bad_indexes_clearly(event):
    with pytest.raises(ValueError, match="'x'"):
        event_sort_key(event)


def test_events_of_no_transaction_come_after_every_transaction():
    withdrawal = {"id": "w", "kind": "withdrawal", "tx_index": None, "log_index": None, "withdrawal_index": 9}
    ordered = sorted([withdrawal, make_event(7, 3), make_event(0, None)], key=event_sort_key)
    assert [e["tx_index"] for e in ordered] == [0, 7, None]


def test_build_payloads_shape_matches_contract():
    events = [make_event(1, 5), make_event(0, None)]
    (payload,) = build_payloads("mon_1", 1, BLOCK, events, removed=False)
    assert list(payload) == ["id", "monitor_id", "chain_id", "block", "removed", "events"]
    assert payload["id"] == delivery_id("mon_1", BLOCK["hash"], False, 0)
    assert payload["monitor_id"] == "mon_1"
    assert payload["chain_id"] == 1
    assert payload["block"] == {
        "number": 21000000,
        "hash": BLOCK["hash"],
        "parent_hash": BLOCK["parent_hash"],
        "timestamp": 1730000000,
    }
    assert list(payload["block"]) == ["number", "hash", "parent_hash", "timestamp"]
    assert payload["removed"] is False
    # Passed through as given, matched_addresses and labels included, in chain order.
    assert payload["events"] == [events[1], events[0]]


def test_build_payloads_does_not_reorder_callers_list():
    events = [make_event(1, 5), make_event(0, None)]
    build_payloads("mon_1", 1, BLOCK, events, removed=False)
    assert [e["tx_index"] for e in events] == [1, 0]


def test_build_payloads_no_events_no_payloads():
    assert build_payloads("mon_1", 1, BLOCK, [], removed=False) == []


@pytest.mark.parametrize(
    ("count", "chunk_sizes"),
    [(1, [1]), (99, [99]), (100, [100]), (101, [100, 1]), (200, [100, 100]), (250, [100, 100, 50])],
)
def test_build_payloads_chunks_at_100(count, chunk_sizes):
    events = many_events(count)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    payloads = build_payloads("mon_1", 1, BLOCK, shuffled, removed=False)
    assert [len(p["events"]) for p in payloads] == chunk_sizes
    assert all(len(p["events"]) <= MAX_EVENTS_PER_DELIVERY for p in payloads)
    # Concatenated chunks are the whole block's events in chain order, none lost or repeated.
    assert [e["id"] for p in payloads for e in p["events"]] == [e["id"] for e in events]
    assert [p["id"] for p in payloads] == [
        delivery_id("mon_1", BLOCK["hash"], False, chunk) for chunk in range(len(chunk_sizes))
    ]
    assert len({p["id"] for p in payloads}) == len(payloads)


def test_build_payloads_is_deterministic_across_input_orders():
    events = many_events(250)
    first = build_payloads("mon_1", 1, BLOCK, events, removed=False)
    reversed_input = build_payloads("mon_1", 1, BLOCK, list(reversed(events)), removed=False)
    assert encode_body(first[2]) == encode_body(reversed_input[2])
    assert [p["id"] for p in first] == [p["id"] for p in reversed_input]


def test_removed_payloads_hold_same_event_ids_under_new_delivery_ids():
    events = many_events(150)
    sent = build_payloads("mon_1", 1, BLOCK, events, removed=False)
    removed = build_payloads("mon_1", 1, BLOCK, events, removed=True)
    assert [[e["id"] for e in p["events"]] for p in removed] == [[e["id"] for e in p["events"]] for p in sent]
    assert all(p["removed"] is True for p in removed)
    assert not {p["id"] for p in sent} & {p["id"] for p in removed}


def test_build_payloads_refuses_block_without_required_fields():
    block = {"number": 1, "hash": "0xabc"}
    with pytest.raises(ValueError, match="parent_hash, timestamp"):
        build_payloads("mon_1", 1, block, [make_event(0, None)], removed=False)


def test_encode_body_is_compact_utf8_in_given_key_order():
    payload = {"z": 1, "a": [1, 2], "label": "Kundin ✓", "nested": {"b": None, "a": True}}
    body = encode_body(payload)
    assert body == '{"z":1,"a":[1,2],"label":"Kundin ✓","nested":{"b":null,"a":true}}'.encode()
    assert json.loads(body) == payload


def test_encode_body_round_trips_a_payload():
    (payload,) = build_payloads("mon_1", 1, BLOCK, many_events(5), removed=False)
    body = encode_body(payload)
    assert b" " not in body
    assert json.loads(body) == payload
    assert body.startswith(b'{"id":"dlv_')


def test_encode_body_refuses_nan():
    with pytest.raises(ValueError):
        encode_body({"value": float("nan")})
