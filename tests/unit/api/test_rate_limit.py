"""RateLimiter: per-key token buckets on an injected clock."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockhook.api.rate_limit import RateLimiter
from blockhook.config import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT, load_settings


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_the_burst_through_then_refuses():
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.acquire("t") for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("t") == 1  # half a second to the next token: whole seconds, at least 1


def test_tokens_come_back_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=1, clock=clock)
    assert limiter.acquire("t") == 0
    assert limiter.acquire("t") > 0
    clock.now += 0.05
    assert limiter.acquire("t") > 0  # half a token
    clock.now += 0.05
    assert limiter.acquire("t") == 0
    assert limiter.acquire("t") > 0


def test_a_rate_that_lands_on_exact_tokens_is_not_lost_to_rounding():
    clock = Clock(0.0)
    limiter = RateLimiter(rate=50, burst=1, clock=clock)
    allowed = 0
    for step in range(1, 1001):
        clock.now = step * 0.02  # exactly one token each time, in floats that are not exact
        allowed += limiter.acquire("t") == 0
    assert allowed == 1000


def test_an_idle_bucket_fills_up_to_the_burst_and_no_more():
    clock = Clock()
    limiter = RateLimiter(rate=5, burst=4, clock=clock)
    for _ in range(4):
        limiter.acquire("t")
    clock.now += 3600
    assert [limiter.acquire("t") for _ in range(5)] == [0, 0, 0, 0, 1]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(1, 1), (0.5, 2), (0.1, 10), (0.3, 4), (0.001, 1000), (1000, 1)],
)
def test_retry_after_is_the_whole_seconds_until_a_token(rate, expected):
    limiter = RateLimiter(rate=rate, burst=1, clock=Clock())
    assert limiter.acquire("t") == 0
    assert limiter.acquire("t") == expected


def test_retry_after_shrinks_as_the_bucket_refills():
    clock = Clock()
    limiter = RateLimiter(rate=0.1, burst=1, clock=clock)
    limiter.acquire("t")
    waits = []
    for _ in range(9):
        waits.append(limiter.acquire("t"))
        clock.now += 1
    assert waits == [10, 9, 8, 7, 6, 5, 4, 3, 2]
    clock.now += 0.5
    assert limiter.acquire("t") == 1
    clock.now += 0.5
    assert limiter.acquire("t") == 0


def test_each_key_has_its_own_bucket():
    limiter = RateLimiter(rate=1, burst=2, clock=Clock())
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 1]
    assert [limiter.acquire("b") for _ in range(3)] == [0, 0, 1]


def test_a_clock_that_steps_back_adds_nothing():
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.acquire("t") == 0
    clock.now -= 100
    assert limiter.acquire("t") == 1
    clock.now += 1  # one second after the step back: one token, not 101
    assert limiter.acquire("t") == 0
    assert limiter.acquire("t") == 1


def test_threads_share_one_bucket_without_losing_or_inventing_tokens():
    limiter = RateLimiter(rate=1, burst=500, clock=Clock())  # the clock stands still: exactly 500 tokens
    allowed = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        allowed.append(sum(limiter.acquire("t") == 0 for _ in range(200)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 500


@given(
    rate=st.floats(min_value=0.01, max_value=1000),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=200),
)
def test_never_more_than_the_burst_plus_the_rate_over_any_run(rate, burst, gaps):
    clock = Clock(0.0)
    limiter = RateLimiter(rate=rate, burst=burst, clock=clock)
    allowed = 0
    for gap in gaps:
        clock.now += gap
        wait = limiter.acquire("t")
        assert wait >= 0 and isinstance(wait, int)
        allowed += wait == 0
    assert allowed <= burst + rate * clock.now + 1e-6
    # And the first `burst` requests of a fresh bucket always pass.
    assert allowed >= min(len(gaps), burst)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (float("inf"), 1), (1, 0)])
def test_nonsense_numbers_are_refused(rate, burst):
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)


def test_settings_read_the_rate_and_burst_with_the_usage_plan_defaults():
    assert (load_settings({}).rate_limit, load_settings({}).rate_burst) == (DEFAULT_RATE_LIMIT, DEFAULT_RATE_BURST)
    configured = load_settings({"BLOCKHOOK_RATE_LIMIT": "2.5", "BLOCKHOOK_RATE_BURST": "7"})
    assert (configured.rate_limit, configured.rate_burst) == (2.5, 7)
