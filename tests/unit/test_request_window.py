"""RequestWindow: how many batched requests a chain keeps in flight (AIMD), on an injected clock."""

from __future__ import annotations

import pytest

from blockhook.ingest.window import BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, RequestWindow


def test_starts_at_its_maximum_and_refuses_a_maximum_below_one():
    window = RequestWindow(4)
    assert window.size == 4
    assert [window.room(n, now=0.0) for n in range(6)] == [True] * 4 + [False] * 2
    with pytest.raises(ValueError, match="at least one"):
        RequestWindow(0)


def test_an_overload_halves_the_window_and_backs_off():
    window = RequestWindow(8)
    window.overloaded(sent_at=10.0, now=10.5)
    assert window.size == 4
    assert window.wait(10.5) == BACKOFF_SECONDS
    assert not window.room(0, now=10.5 + BACKOFF_SECONDS / 2)  # nothing sent during the back-off
    assert window.room(3, now=10.5 + BACKOFF_SECONDS) and not window.room(4, now=11.0)


def test_halving_stops_at_one_and_the_back_off_doubles_up_to_its_cap():
    window = RequestWindow(8)
    now, backoffs = 0.0, []
    for _ in range(8):
        now += 100  # each failure sent after the previous decrease
        window.overloaded(sent_at=now, now=now)
        backoffs.append(window.wait(now))
    assert window.size == 1
    assert backoffs[:4] == [BACKOFF_SECONDS, 2 * BACKOFF_SECONDS, 4 * BACKOFF_SECONDS, 8 * BACKOFF_SECONDS]
    assert backoffs[-1] == MAX_BACKOFF_SECONDS
    assert window.room(0, now) is False and window.room(0, now + MAX_BACKOFF_SECONDS) is True


def test_requests_of_the_same_burst_halve_the_window_once():
    window = RequestWindow(8)
    for _ in range(4):  # four requests sent together at t=1, refused one after another
        window.overloaded(sent_at=1.0, now=2.0)
    assert window.size == 4
    window.overloaded(sent_at=1.5, now=3.0)  # sent before the decrease at t=2: the same burst
    assert window.size == 4
    window.overloaded(sent_at=2.6, now=3.0)  # sent after it: the smaller window is still too much
    assert window.size == 2
    assert window.wait(3.0) == 2 * BACKOFF_SECONDS


def test_it_climbs_one_at_a_time_after_a_run_of_answers_up_to_its_maximum():
    window = RequestWindow(4, climb_after=3)
    window.overloaded(sent_at=0.0, now=0.0)
    window.overloaded(sent_at=1.0, now=1.0)
    assert window.size == 1
    sizes = []
    for n in range(12):
        window.answered(sent_at=10.0 + n)
        sizes.append(window.size)
    assert sizes == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4]


def test_an_overload_breaks_the_run_and_an_answer_resets_the_back_off():
    window = RequestWindow(4, climb_after=3)
    window.overloaded(sent_at=0.0, now=0.0)  # 2
    window.answered(sent_at=1.0)
    window.answered(sent_at=1.0)
    window.overloaded(sent_at=-0.5, now=2.0)  # an old request's refusal: no second halving, but the run is over
    window.answered(sent_at=2.0)
    assert window.size == 2
    window.answered(sent_at=2.0)
    window.answered(sent_at=2.0)
    assert window.size == 3
    window.overloaded(sent_at=5.0, now=5.0)  # decreases in a row were reset by the answers
    assert window.size == 1 and window.wait(5.0) == BACKOFF_SECONDS


def test_answers_to_requests_sent_before_a_decrease_do_not_count():
    window = RequestWindow(4, climb_after=1)
    window.overloaded(sent_at=1.0, now=2.0)
    window.answered(sent_at=1.5)  # in flight when the window narrowed
    assert window.size == 2
    window.answered(sent_at=2.5)
    assert window.size == 3
