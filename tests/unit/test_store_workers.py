"""store/workers.py: the DynamoDB calls of one request side by side, on threads kept across calls (each
keeps the botocore client PynamoDB made for it)."""

from __future__ import annotations

import contextvars
import threading

import pytest

from blockhook.store import workers

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


def test_results_in_order_in_the_callers_context_on_threads_kept_across_calls() -> None:
    marker.set("request-7")
    seen_threads: set[int] = set()
    lock = threading.Lock()

    def work(n: int) -> tuple[int, str]:
        with lock:
            seen_threads.add(threading.get_ident())
        return n * n, marker.get()

    for _ in range(5):
        assert workers.run_all(work, range(40)) == [(n * n, "request-7") for n in range(40)]
    assert len(seen_threads) <= workers.WORKERS  # the same threads each call, never new ones per call


def test_the_first_error_is_raised_to_the_caller() -> None:
    def work(n: int) -> int:
        if n == 3:
            raise KeyError("three")
        return n

    with pytest.raises(KeyError, match="three"):
        workers.run_all(work, range(8))


def test_one_part_runs_in_the_callers_thread() -> None:
    assert workers.run_all(lambda _: threading.get_ident(), [None]) == [threading.get_ident()]
    assert workers.run_all(lambda n: n, []) == []
