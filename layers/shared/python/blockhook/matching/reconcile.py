"""Compare one monitor's matches of a block, as read again from the chain, with the deliveries
recorded for it at that height, with no I/O.

The state of an event id is what its latest recorded delivery says (by creation time): live
(`removed: false`) or taken back (`removed: true`). Of the block read again (canonical now):
- missing: a matched event whose id is not live in a delivery of this block hash;
- extra: an event live in a delivery of another hash at this height, a block no longer on the chain
  whose removal was never recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from blockhook.delivery.payload import MAX_EVENTS_PER_DELIVERY
from blockhook.delivery.payload import delivery_id as make_delivery_id
from blockhook.store.models import DeliveryModel


@dataclass
class Stale:
    """The live events of a delivered block that is no longer on the chain."""

    block: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Findings:
    missing: list[dict[str, Any]]
    extra: dict[str, Stale]  # by block hash

    @property
    def extra_ids(self) -> list[str]:
        return [event["id"] for stale in self.extra.values() for event in stale.events]


def heal_part(job_id: str, chunk: int | None = None) -> str:
    """The `block_part` of a reconcile's own deliveries: the missing events of a chunk of the block
    read again, or (no chunk) the removal of a stale block's events."""
    return f"reconcile:{job_id}" if chunk is None else f"reconcile:{job_id}:{chunk}"


def own_deliveries(monitor_id: str, job_id: str, chunk: int, hashes: Iterable[str], events: int) -> set[str]:
    """The ids the job's heal gives (or gave) its deliveries of these block hashes, `events` at most
    in each: left out of the comparison, so that a repeat of the block's message finds what it found
    the first time and heals it under the same ids."""
    chunks = range(events // MAX_EVENTS_PER_DELIVERY + 1)
    ids = set()
    for block_hash in hashes:
        sent = f"{block_hash}#{heal_part(job_id, chunk)}"
        taken_back = f"{block_hash}#{heal_part(job_id)}"
        ids.update(make_delivery_id(monitor_id, sent, False, n) for n in chunks)
        ids.update(make_delivery_id(monitor_id, taken_back, True, n) for n in chunks)
    return ids


def compare(
    block_hash: str,
    matched: Sequence[dict[str, Any]],
    recorded: Sequence[DeliveryModel],
    payload_of: Callable[[DeliveryModel], str],
    ignore: set[str] = frozenset(),  # type: ignore[assignment]
    with_extra: bool = True,
) -> Findings:
    """What `matched` (the monitor's events of block `block_hash`, matched now) and `recorded` (its
    deliveries at that height, every hash) disagree on; `ignore`: delivery ids left out."""
    latest: dict[str, tuple[int, bool, str, dict[str, Any], dict[str, Any]]] = {}
    for record in sorted(recorded, key=lambda item: int(item.created_at)):
        if record.delivery_id in ignore:
            continue
        payload = json.loads(payload_of(record))
        for event in payload.get("events", ()):
            latest[event["id"]] = (int(record.created_at), bool(record.removed), record.block_hash,
                                   payload["block"], event)  # fmt: skip
    live_here = {
        event_id for event_id, (_, removed, hash_, _, _) in latest.items() if not removed and hash_ == block_hash
    }
    missing = [event for event in matched if event["id"] not in live_here]
    extra: dict[str, Stale] = {}
    if with_extra:
        for _, removed, hash_, block, event in latest.values():
            if not removed and hash_ != block_hash:
                extra.setdefault(hash_, Stale(block)).events.append(event)
    return Findings(missing, extra)
