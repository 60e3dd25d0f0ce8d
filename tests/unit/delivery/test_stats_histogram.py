"""The latency histogram of the delivery stats (store/delivery_stats.py): its buckets and the
percentile estimates made from them."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from blockhook.store.delivery_stats import LATENCY_BOUNDS_MS, bucket_of, merged, percentile

DAY_MS = 24 * 3600 * 1000


def histogram(values: list[float]) -> list[int]:
    buckets = [0] * len(LATENCY_BOUNDS_MS)
    for value in values:
        buckets[bucket_of(value)] += 1
    return buckets


def test_the_buckets_grow_by_about_1_5x_from_10_ms_to_24_hours():
    assert LATENCY_BOUNDS_MS[0] == 10 and LATENCY_BOUNDS_MS[-1] == DAY_MS
    steps = [high / low for low, high in zip(LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[1:-1], strict=False)]
    assert all(1.4 < step < 1.6 for step in steps), steps
    assert LATENCY_BOUNDS_MS[-1] / LATENCY_BOUNDS_MS[-2] <= 1.5


def test_a_bucket_holds_the_latencies_up_to_its_bound():
    assert bucket_of(0) == bucket_of(10) == 0
    assert bucket_of(10.5) == bucket_of(15) == 1
    assert bucket_of(-5) == 0  # a clock behind the creation counts as no wait
    assert bucket_of(DAY_MS) == bucket_of(10 * DAY_MS) == len(LATENCY_BOUNDS_MS) - 1  # over 24 h: the last


def test_an_empty_histogram_has_no_percentile():
    assert percentile([0] * len(LATENCY_BOUNDS_MS), 50) is None


@given(
    st.lists(st.floats(min_value=0, max_value=2 * DAY_MS, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([50, 90, 99, 1, 100]),
)
def test_the_estimate_is_the_upper_bound_of_the_bucket_holding_the_true_percentile(values, percent):
    ordered = sorted(values)
    true = ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]  # nearest rank
    estimate = percentile(histogram(values), percent)
    assert estimate == LATENCY_BOUNDS_MS[bucket_of(true)]
    assert estimate >= min(true, DAY_MS)


@given(st.lists(st.lists(st.floats(min_value=0, max_value=DAY_MS, allow_nan=False), max_size=20), max_size=5))
def test_merged_histograms_are_the_histogram_of_all_their_values(groups):
    assert merged([histogram(values) for values in groups]) == histogram([value for values in groups for value in values])
