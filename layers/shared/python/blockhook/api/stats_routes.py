"""The delivery stats route of the REST API: a monitor's deliveries and attempts hour by hour, with
latency percentiles (store/delivery_stats.py keeps them)."""

from __future__ import annotations

import re
import time
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError
from blockhook.api.models import HourStatsOut, LatencyOut, MonitorStats, WindowLatencyOut
from blockhook.api.resolver import tenant
from blockhook.store import delivery_stats

router = Router()

DEFAULT_HOURS = 24
_WHOLE_NUMBER = re.compile(r"[0-9]{1,4}")


def _hours(value: str | None) -> int:
    # Read here rather than by the schema: a window out of range is a malformed request (400).
    if value is None:
        return DEFAULT_HOURS
    if _WHOLE_NUMBER.fullmatch(value) and 1 <= int(value) <= delivery_stats.MAX_HOURS:
        return int(value)
    raise ApiError(
        400, "invalid_hours", f"hours is a whole number of hours from 1 to {delivery_stats.MAX_HOURS}, not {value[:20]!r}"
    )


def _latency(buckets: list[int]) -> dict[str, int] | None:
    if not sum(buckets):
        return None
    return {f"p{percent}": delivery_stats.percentile(buckets, percent) for percent in delivery_stats.PERCENTILES}


@router.get(
    "/v1/monitors/<monitor_id>/stats",
    summary="The monitor's deliveries, attempts and latency, hour by hour",
    responses=responses(200, "Every hour of the window, oldest first, the current hour last"),
)
def get_stats(
    monitor_id: str,
    hours: Annotated[
        str,  # not `| None`: a query value is a string when sent; absent, it is None (the default)
        Query(
            description=f"The window: this many hours up to the current one, 1 to {delivery_stats.MAX_HOURS}"
            f" (default {DEFAULT_HOURS})",
            json_schema_extra={"type": "integer", "minimum": 1, "maximum": delivery_stats.MAX_HOURS,
                               "default": DEFAULT_HOURS},
        ),
    ] = None,
) -> MonitorStats:
    window = _hours(hours)
    monitor = find_monitor(tenant(), monitor_id)
    stats = delivery_stats.read_stats(monitor.monitor_id, window, time.time())
    overall = delivery_stats.merged([hour.buckets for hour in stats])
    latency = _latency(overall)
    return MonitorStats(
        monitor_id=monitor.monitor_id,
        hours=[
            HourStatsOut(
                hour=hour.hour, delivered=hour.delivered, failed=hour.failed, attempts=hour.attempts,
                failed_attempts=hour.failed_attempts,
                latency_ms=None if (found := _latency(hour.buckets)) is None else LatencyOut(**found),
            )
            for hour in stats
        ],  # fmt: skip
        latency_ms=None if latency is None else WindowLatencyOut(**latency, count=sum(overall)),
    )
