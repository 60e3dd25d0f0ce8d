"""When to try a failed webhook again, and how to wait that long on SQS.

Attempt 1 goes out at once. After `n` failed attempts the next one waits `schedule[n-1]`
seconds, stretched or shrunk by a random factor in [0.8, 1.2] (jitter, so that receivers
coming back from an outage are not hit by every delivery in the same second). Once all
`len(schedule) + 1` attempts have failed the delivery is `failed` (and stays replayable).

Jitter is symmetric, so on average the schedule is kept; the default schedule is long enough
that even when every draw is the lowest (0.8) the retries span more than 24 hours (CONTRACT
section 4): 0.8 * sum(DEFAULT_SCHEDULE) >= 24 h.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

RETRY_HORIZON_SECONDS = 24 * 3600
JITTER_FRACTION = 0.2
SQS_MAX_DELAY_SECONDS = 900

_RAMP = (10, 60, 300, 1800, 3600)
_HOURLY_STEPS = math.ceil((RETRY_HORIZON_SECONDS / (1 - JITTER_FRACTION) - sum(_RAMP)) / 3600)
DEFAULT_SCHEDULE: tuple[int, ...] = _RAMP + (3600,) * _HOURLY_STEPS

_default_rng = random.Random()


class RetryScheduleError(ValueError):
    pass


def parse_schedule(text: str | None) -> tuple[int, ...]:
    """`"1,2,4"` -> (1, 2, 4): seconds between attempts. None or blank -> DEFAULT_SCHEDULE.

    Each step must be a whole number of seconds, 0 or more.
    """
    if text is None or not text.strip():
        return DEFAULT_SCHEDULE
    steps = []
    for raw in text.split(","):
        item = raw.strip()
        if not item.isascii() or not item.isdigit():
            raise RetryScheduleError(
                f"retry schedule {text!r}: {item!r} is not a whole number of seconds "
                "(expected comma-separated non-negative integers, e.g. '1,2,4')"
            )
        steps.append(int(item))
    return tuple(steps)


def next_attempt_delay(
    attempts_made: int, schedule: Sequence[int], rng: random.Random | None = None
) -> float | None:
    """Seconds to wait before attempt `attempts_made + 1`, or None when it is time to give up.

    0 attempts made -> 0.0 (send now). 1..len(schedule) -> the step with +-20 % jitter, never
    below 0. More than len(schedule) -> None.
    """
    if not isinstance(attempts_made, int) or attempts_made < 0:
        raise ValueError(f"attempts_made must be a non-negative integer, got {attempts_made!r}")
    if attempts_made == 0:
        return 0.0
    if attempts_made > len(schedule):
        return None
    step = schedule[attempts_made - 1]
    factor = (rng or _default_rng).uniform(1 - JITTER_FRACTION, 1 + JITTER_FRACTION)
    return max(0.0, step * factor)


def queue_delay(due_at: float, now: float) -> int:
    """SQS DelaySeconds for a message that should act at `due_at`: ceil(due_at - now) in [0, 900].

    When the wait is longer than 900 s the consumer finds `due_at` still in the future and
    re-queues with the remaining delay: the wait hops through several messages.
    """
    remaining = due_at - now
    if math.isnan(remaining):
        raise ValueError(f"queue_delay got a NaN time (due_at={due_at!r}, now={now!r})")
    if remaining <= 0:
        return 0
    if remaining >= SQS_MAX_DELAY_SECONDS:
        return SQS_MAX_DELAY_SECONDS
    return math.ceil(remaining)
