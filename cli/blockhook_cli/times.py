"""Times as a user writes them on the command line: a duration back from now, or a point in time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int | None:
    """Seconds of `30m`, `2h`, `3d`, `1h30m`; None when `text` is not a duration."""
    text = text.strip().lower()
    if not text or _DURATION.sub("", text):
        return None
    return sum(int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION.findall(text))


def parse_time(text: str, now: float) -> int:
    """Unix seconds of a duration back from `now` (`2h`), an ISO 8601 time (`2026-12-03T10:00:00Z`, a time
    without an offset is UTC; a date alone is its midnight UTC) or unix seconds. ValueError otherwise."""
    seconds = parse_duration(text)
    if seconds is not None:
        return int(now) - seconds
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (30m, 2h, 3d) nor an ISO time (2026-12-03T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def show_time(seconds: int | None) -> str:
    """Unix seconds as an ISO time in UTC."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
