"""Delivery stats of a monitor per UTC hour: what its deliveries and attempts came to, and how long
its deliveries took to arrive.

One small item per (monitor, hour) in the deliveries table, keyed "stats#<monitor_id>#<hour>" (never
a delivery id: those start with "dlv_"), and without the attributes the table's indexes are keyed
by, so no index and no delivery log ever holds one. The deliver path adds to it with one atomic ADD
update per attempt: the counts and one latency bucket, so concurrent attempts never lose each
other's counts. The items expire (the table's TTL) 8 days after their hour, past the 7 days the API
shows.

Latency is kept as a histogram in fixed buckets of ~1.5x steps from 10 ms to 24 h
(LATENCY_BOUNDS_MS, the upper bound of each); a percentile is estimated as the upper bound of the
bucket that holds it. A latency over 24 h counts in the last bucket.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from blockhook.store.models import DeliveryModel

HOUR_SECONDS = 3600
MAX_HOURS = 7 * 24
RETENTION_SECONDS = 8 * 24 * HOUR_SECONDS
_DAY_MS = 24 * HOUR_SECONDS * 1000
_KEY_PREFIX = "stats#"
PERCENTILES = (50, 90, 99)


def _bounds() -> tuple[int, ...]:
    bounds, value = [], 10.0
    while value < _DAY_MS:
        bounds.append(round(value))
        value *= 1.5
    return (*bounds, _DAY_MS)


# Bucket i holds the latencies above LATENCY_BOUNDS_MS[i - 1] up to LATENCY_BOUNDS_MS[i] (bucket 0: up to 10 ms).
LATENCY_BOUNDS_MS: tuple[int, ...] = _bounds()
COUNTS = ("delivered", "failed", "attempts", "failed_attempts")


def _bucket_name(index: int) -> str:
    return f"latency_{index}"


# Built from the bounds: one number attribute per bucket, so an attempt's update is a plain ADD of
# top-level attributes (an ADD into a map needs the map to exist first).
DeliveryStatsModel: type[Model] = type(
    "DeliveryStatsModel",
    (Model,),
    {
        "__module__": __name__,
        "__doc__": "A monitor's delivery counts and latency histogram of one UTC hour (see the module).",
        "Meta": DeliveryModel.Meta,
        "key": UnicodeAttribute(hash_key=True, attr_name="delivery_id"),
        "hour": NumberAttribute(),  # unix seconds at the start of the hour
        "expires_at": NumberAttribute(),  # TTL
        **{name: NumberAttribute(null=True) for name in COUNTS},
        **{_bucket_name(index): NumberAttribute(null=True) for index in range(len(LATENCY_BOUNDS_MS))},
    },
)


def hour_of(at: float) -> int:
    return int(at // HOUR_SECONDS) * HOUR_SECONDS


def stats_key(monitor_id: str, hour: int) -> str:
    return f"{_KEY_PREFIX}{monitor_id}#{hour}"


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket of a latency (negative counts as 0, over 24 h as 24 h)."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, min(max(latency_ms, 0), _DAY_MS))


def record_attempt_stats(
    monitor_id: str, at: float, *, ok: bool, outcome: str | None = None, latency_ms: float | None = None
) -> None:
    """Count one attempt made at `at` (unix seconds): `ok` for a 2xx answer; `outcome`, "delivered" or
    "failed", when it settled its delivery so; `latency_ms`, the delivery's latency when this is its
    first 2xx. One UpdateItem."""
    model = DeliveryStatsModel
    hour = hour_of(at)
    actions = [
        model.hour.set(hour),
        model.expires_at.set(hour + HOUR_SECONDS + RETENTION_SECONDS),
        model.attempts.add(1),
    ]
    if not ok:
        actions.append(model.failed_attempts.add(1))
    if outcome in ("delivered", "failed"):
        actions.append(getattr(model, outcome).add(1))
    if latency_ms is not None:
        actions.append(getattr(model, _bucket_name(bucket_of(latency_ms))).add(1))
    model(stats_key(monitor_id, hour)).update(actions=actions)


@dataclass
class HourStats:
    hour: int
    delivered: int = 0
    failed: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))


def read_stats(monitor_id: str, hours: int, now: float) -> list[HourStats]:
    """The `hours` hours ending with the one holding `now`, oldest first, each with its counts (zeros
    for an hour without an item)."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours is 1 to {MAX_HOURS}")
    last = hour_of(now)
    window = [HourStats(last - (hours - 1 - index) * HOUR_SECONDS) for index in range(hours)]
    by_key = {stats_key(monitor_id, stats.hour): stats for stats in window}
    for item in DeliveryStatsModel.batch_get(list(by_key)):
        stats = by_key[item.key]
        for name in COUNTS:
            setattr(stats, name, int(getattr(item, name) or 0))
        stats.buckets = [int(getattr(item, _bucket_name(index)) or 0) for index in range(len(LATENCY_BOUNDS_MS))]
    return window


def merged(buckets: Sequence[Sequence[int]]) -> list[int]:
    """The histogram of several histograms."""
    return [sum(counts) for counts in zip(*buckets, strict=True)] if buckets else [0] * len(LATENCY_BOUNDS_MS)


def percentile(buckets: Sequence[int], percent: float) -> int | None:
    """The estimate of the `percent` percentile (nearest rank) of a histogram: the upper bound of the
    bucket holding it; None for an empty histogram."""
    total = sum(buckets)
    if not total:
        return None
    rank = max(1, math.ceil(percent / 100 * total))
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= rank:
            return LATENCY_BOUNDS_MS[index]
    return LATENCY_BOUNDS_MS[-1]  # not reached: the ranks end at the total
