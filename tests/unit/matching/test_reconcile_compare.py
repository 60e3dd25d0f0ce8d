"""The reconcile comparison (matching/reconcile.py) and the messages that carry a reconcile's blocks."""

from __future__ import annotations

import json

import pytest

from blockhook.delivery.payload import build_payloads
from blockhook.matching.reconcile import compare, heal_part, own_deliveries
from blockhook.store.models import DeliveryModel
from blockhook.streaming.codec import (
    BackfillTarget,
    BlockHeader,
    MalformedMessage,
    ReconcileTarget,
    decode,
    encode_block,
)

MONITOR = "mon_" + "1" * 24
CANONICAL, REPLACED = "0x" + "aa" * 32, "0x" + "bb" * 32


def block(block_hash: str) -> dict:
    return {"number": 7, "hash": block_hash, "parent_hash": "0x" + "00" * 32, "timestamp": 1_700_000_000}


def event(block_hash: str, n: int) -> dict:
    return {"id": f"1:{block_hash}:{n}:tx:native_transfer", "kind": "native_transfer", "chain_id": 1,
            "block_number": 7, "block_hash": block_hash, "tx_index": n, "log_index": None}  # fmt: skip


def delivered(block_hash: str, events: list[dict], removed: bool, at: int, part: str | None = None) -> DeliveryModel:
    (payload,) = build_payloads(MONITOR, 1, block(block_hash), events, removed)
    if part is not None:
        from blockhook.delivery.payload import delivery_id

        payload["id"] = delivery_id(MONITOR, f"{block_hash}#{part}", removed, 0)
    return DeliveryModel(
        payload["id"], monitor_id=MONITOR, tenant_id="t", chain_id=1, block_number=7, block_hash=block_hash,
        removed=removed, event_count=len(events), payload=json.dumps(payload), created_at=at,
    )  # fmt: skip


def payload_of(record: DeliveryModel) -> str:
    return record.payload


def ids(events: list[dict]) -> list[str]:
    return [item["id"] for item in events]


def test_everything_delivered_and_live_is_neither_missing_nor_extra():
    matched = [event(CANONICAL, n) for n in range(3)]
    found = compare(CANONICAL, matched, [delivered(CANONICAL, matched, False, 1)], payload_of)
    assert (found.missing, found.extra) == ([], {})


def test_an_event_never_delivered_or_last_taken_back_is_missing():
    matched = [event(CANONICAL, n) for n in range(3)]
    recorded = [
        delivered(CANONICAL, matched[:2], False, 1),
        delivered(CANONICAL, matched[1:2], True, 2),  # its block was reverted, and it came back: not sent again
    ]
    found = compare(CANONICAL, matched, recorded, payload_of)
    assert ids(found.missing) == ids(matched[1:])
    assert found.extra == {}


def test_an_event_taken_back_then_sent_again_is_live():
    matched = [event(CANONICAL, 0)]
    recorded = [delivered(CANONICAL, matched, True, 5), delivered(CANONICAL, matched, False, 1),
                delivered(CANONICAL, matched, False, 9)]  # fmt: skip
    assert compare(CANONICAL, matched, recorded, payload_of).missing == []


def test_a_live_event_of_a_replaced_block_is_extra_unless_taken_back():
    stale = [event(REPLACED, n) for n in range(2)]
    recorded = [delivered(REPLACED, stale, False, 1), delivered(REPLACED, stale[:1], True, 2)]
    found = compare(CANONICAL, [], recorded, payload_of)
    assert list(found.extra) == [REPLACED]
    assert found.extra[REPLACED].block["hash"] == REPLACED
    assert ids(found.extra[REPLACED].events) == found.extra_ids == [stale[1]["id"]]
    assert compare(CANONICAL, [], recorded, payload_of, with_extra=False).extra == {}


def test_the_jobs_own_heal_deliveries_are_left_out_so_a_repeat_finds_the_same():
    matched = [event(CANONICAL, 0)]
    stale = [event(REPLACED, 0)]
    first = [delivered(REPLACED, stale, False, 1)]
    healed = first + [
        delivered(CANONICAL, matched, False, 2, part=heal_part("rc_1", 0)),
        delivered(REPLACED, stale, True, 3, part=heal_part("rc_1")),
    ]
    own = own_deliveries(MONITOR, "rc_1", 0, {CANONICAL, REPLACED}, 2)
    again = compare(CANONICAL, matched, healed, payload_of, own)
    assert (ids(again.missing), again.extra_ids) == (ids(matched), ids(stale))
    # Another job sees them as delivered: nothing to find.
    later = compare(CANONICAL, matched, healed, payload_of, own_deliveries(MONITOR, "rc_2", 0, {CANONICAL}, 2))
    assert (later.missing, later.extra) == ([], {})


def test_a_reconcile_block_round_trips_and_is_told_from_a_backfill_one():
    header = BlockHeader(1, 7, CANONICAL, "0x" + "00" * 32, 1_700_000_000)
    for target in (ReconcileTarget("mon_1", "rc_1"), BackfillTarget("mon_1", "bf_1")):
        (value,) = encode_block(header, [event(CANONICAL, 0)], backfill=target)
        message = decode(value)
        assert type(message.backfill) is type(target) and message.backfill == target
    assert ReconcileTarget("m", "j") != BackfillTarget("m", "j")


@pytest.mark.parametrize("value", [{"monitor_id": 1, "job_id": "j"}, "mon_1", {"monitor_id": "m"}])
def test_a_malformed_reconcile_target_is_a_malformed_message(value):
    document = {"v": 1, "type": "block", "chain_id": 1, "number": 7, "hash": CANONICAL, "parent_hash": CANONICAL,
                "timestamp": 1, "events": [], "reconcile": value}  # fmt: skip
    with pytest.raises(MalformedMessage, match="reconcile"):
        decode(json.dumps(document))
