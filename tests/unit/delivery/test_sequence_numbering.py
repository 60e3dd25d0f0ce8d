"""Numbering of deliveries without a store: where `sequence` goes in the body, what it may be, and how
the deliveries of one enqueue are cut into transactions that DynamoDB takes (100 items, 4 MB)."""

import json

import pytest

from blockhook.delivery.payload import build_payloads, encode_body, numbered
from blockhook.store import deliveries as delivery_store
from blockhook.store.blobs import MAX_INLINE_ITEM_BYTES

BLOCK = {"number": 7, "hash": "0x" + "ab" * 32, "parent_hash": "0x" + "cd" * 32, "timestamp": 1730000000}


def payloads(count: int, data_bytes: int = 0, monitor_id: str = "mon_1", chain_id: int = 1) -> list[dict]:
    events = [
        {"id": f"e{n}", "kind": "log", "tx_index": n, "log_index": 0, "data": "0x" + "ab" * (data_bytes // 2)}
        for n in range(count * 100)
    ]
    return build_payloads(monitor_id, chain_id, BLOCK, events, removed=False)


def test_the_sequence_follows_chain_id_and_the_body_is_otherwise_unchanged():
    (payload,) = payloads(1)
    body = numbered(payload, 1042)
    assert list(body) == ["id", "monitor_id", "chain_id", "sequence", "block", "removed", "events"]
    assert {name: value for name, value in body.items() if name != "sequence"} == payload
    assert "sequence" not in payload  # the caller's payload is left as it was
    assert json.loads(encode_body(body))["sequence"] == 1042


def test_numbering_again_replaces_the_number():
    (payload,) = payloads(1)
    assert list(numbered(numbered(payload, 1), 2).items()) == list(numbered(payload, 2).items())


@pytest.mark.parametrize("sequence", [0, -1, True, 1.0, "1", None])
def test_a_sequence_is_a_positive_integer(sequence):
    (payload,) = payloads(1)
    with pytest.raises(ValueError):
        numbered(payload, sequence)


def test_a_payload_without_chain_id_cannot_be_numbered():
    (payload,) = payloads(1)
    del payload["chain_id"]
    with pytest.raises(ValueError):
        numbered(payload, 1)


def test_an_enqueue_is_cut_into_transactions_of_at_most_99_deliveries_and_the_counter():
    many = payloads(250)
    groups = delivery_store._transaction_groups(many)
    assert [len(group) for group in groups] == [99, 99, 52]
    assert [payload for group in groups for payload in group] == many  # in order, each once


def test_large_inline_bodies_are_cut_to_stay_under_the_4_mb_of_a_transaction():
    many = payloads(30, data_bytes=2_500)  # ~250 KB bodies: inline, under the spill limit
    sizes = [len(json.dumps(payload)) for payload in many]
    assert all(200_000 < size < MAX_INLINE_ITEM_BYTES for size in sizes)
    groups = delivery_store._transaction_groups(many)
    assert len(groups) > 1
    for group in groups:
        inline = sum(len(json.dumps(payload)) + 1_000 for payload in group)
        assert inline <= delivery_store.MAX_TRANSACTION_BYTES < 4_000_000
    assert [payload for group in groups for payload in group] == many


def test_bodies_kept_in_s3_weigh_little_in_a_transaction():
    many = payloads(3, data_bytes=4_000)  # ~400 KB bodies: spilled, the item holds a key
    assert all(len(json.dumps(payload)) > MAX_INLINE_ITEM_BYTES for payload in many)
    assert [len(group) for group in delivery_store._transaction_groups(many)] == [3]


def test_deliveries_of_several_monitors_or_chains_are_not_numbered_together():
    mixed = payloads(1, monitor_id="mon_1") + payloads(1, monitor_id="mon_2")
    with pytest.raises(ValueError, match="several monitors or chains"):
        delivery_store.record_deliveries("tenant", mixed)
    with pytest.raises(ValueError, match="several monitors or chains"):
        delivery_store.record_deliveries("tenant", payloads(1, chain_id=1) + payloads(1, chain_id=2))
