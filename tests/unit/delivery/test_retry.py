import random

import pytest

from blockhook.delivery.retry import (
    DEFAULT_SCHEDULE,
    SQS_MAX_DELAY_SECONDS,
    RetryScheduleError,
    next_attempt_delay,
    parse_schedule,
    queue_delay,
)

DAY = 24 * 3600


def test_default_schedule_starts_with_the_ramp_then_hourly():
    assert DEFAULT_SCHEDULE[:5] == (10, 60, 300, 1800, 3600)
    assert set(DEFAULT_SCHEDULE[5:]) == {3600}


def test_default_schedule_spans_a_day_even_with_all_jitter_low():
    assert sum(DEFAULT_SCHEDULE) >= DAY
    assert 0.8 * sum(DEFAULT_SCHEDULE) >= DAY


def test_jittered_default_schedule_spans_a_day_in_many_runs():
    rng = random.Random(1234)
    for _ in range(200):
        waited = 0.0
        attempts = 1
        while (step := next_attempt_delay(attempts, DEFAULT_SCHEDULE, rng)) is not None:
            waited += step
            attempts += 1
        assert waited >= DAY
        assert attempts == len(DEFAULT_SCHEDULE) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,2,4", (1, 2, 4)),
        (" 1, 2 ,4 ", (1, 2, 4)),
        ("0", (0,)),
        ("3600", (3600,)),
        (None, DEFAULT_SCHEDULE),
        ("", DEFAULT_SCHEDULE),
        ("   ", DEFAULT_SCHEDULE),
    ],
)
def test_parse_schedule(text, expected):
    assert parse_schedule(text) == expected


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("1,,2", "''"),
        ("1,-2", "'-2'"),
        ("1.5", "'1.5'"),
        ("a,b", "'a'"),
        ("1;2", "'1;2'"),
        ("1,2,", "''"),
        ("１", "'１'"),
    ],
)
def test_parse_schedule_errors_name_the_value(text, bad):
    with pytest.raises(RetryScheduleError) as caught:
        parse_schedule(text)
    assert repr(text) in str(caught.value)
    assert bad in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_first_attempt_has_no_delay():
    assert next_attempt_delay(0, (1, 2, 4)) == 0.0


@pytest.mark.parametrize("attempts_made", [1, 2, 3])
def test_jitter_stays_within_20_percent(attempts_made):
    schedule = (10, 60, 300)
    step = schedule[attempts_made - 1]
    rng = random.Random(42)
    draws = [next_attempt_delay(attempts_made, schedule, rng) for _ in range(5000)]
    assert all(0.8 * step <= d <= 1.2 * step for d in draws)
    # Jitter really spreads: both halves of the range are used, and the mean stays near the step.
    assert min(draws) < 0.85 * step
    assert max(draws) > 1.15 * step
    assert 0.97 * step < sum(draws) / len(draws) < 1.03 * step


def test_seeded_rng_gives_repeatable_delays():
    first = [next_attempt_delay(1, (100,), random.Random(5)) for _ in range(3)]
    assert len(set(first)) == 1


def test_zero_step_is_never_negative():
    rng = random.Random(3)
    assert all(next_attempt_delay(1, (0,), rng) == 0.0 for _ in range(100))


def test_default_rng_is_used_when_none_given():
    draws = {next_attempt_delay(1, (1000,)) for _ in range(50)}
    assert all(800 <= d <= 1200 for d in draws)
    assert len(draws) > 1


def test_gives_up_after_the_schedule():
    schedule = (1, 2, 4)
    rng = random.Random(0)
    assert next_attempt_delay(3, schedule, rng) is not None  # 4th attempt still comes
    assert next_attempt_delay(4, schedule, rng) is None
    assert next_attempt_delay(100, schedule, rng) is None
    assert next_attempt_delay(len(DEFAULT_SCHEDULE), DEFAULT_SCHEDULE, rng) is not None
    assert next_attempt_delay(len(DEFAULT_SCHEDULE) + 1, DEFAULT_SCHEDULE, rng) is None


@pytest.mark.parametrize("attempts_made", [-1, 1.5, None])
def test_bad_attempt_count_is_a_clear_error(attempts_made):
    with pytest.raises(ValueError, match="attempts_made"):
        next_attempt_delay(attempts_made, (1, 2))


@pytest.mark.parametrize(
    ("due_at", "now", "expected"),
    [
        (100.0, 100.0, 0),
        (90.0, 100.0, 0),  # overdue
        (100.2, 100.0, 1),  # rounds up: never act early
        (110.0, 100.0, 10),
        (1000.0, 100.0, 900),
        (999.5, 100.0, 900),
        (1000.01, 100.0, 900),
        (100.0 + 86400, 100.0, SQS_MAX_DELAY_SECONDS),
    ],
)
def test_queue_delay_clamps(due_at, now, expected):
    assert queue_delay(due_at, now) == expected
    assert isinstance(queue_delay(due_at, now), int)


def test_long_wait_hops_through_several_messages():
    now, due_at = 0.0, 3600.0
    hops = []
    while (delay := queue_delay(due_at, now)) > 0:
        hops.append(delay)
        now += delay
    assert hops == [900, 900, 900, 900]
    assert now >= due_at


def test_queue_delay_nan_is_a_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        queue_delay(float("nan"), 1.0)
