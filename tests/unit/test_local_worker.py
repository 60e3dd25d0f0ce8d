"""The local runner's supervisor: a worker that raises is restarted; one that cannot start says so once."""

from __future__ import annotations

import threading
import time

from blockhook.local.worker import BackgroundWorker


class Flaky(BackgroundWorker):
    name = "flaky"
    restart_delay = 0.01

    def __init__(self, failures_before_ready: int, failures_after_ready: int) -> None:
        super().__init__()
        self.before, self.after = failures_before_ready, failures_after_ready
        self.runs = 0
        self.settled = threading.Event()

    def _run(self) -> None:
        self.runs += 1
        if self.before > 0:
            self.before -= 1
            raise ConnectionError("no broker")
        self.ready()
        if self.after > 0:
            self.after -= 1
            raise RuntimeError("commit refused")
        self.settled.set()
        self.stop_event.wait()


def wait_until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_worker_that_fails_while_running_is_restarted_as_often_as_it_takes():
    worker = Flaky(failures_before_ready=2, failures_after_ready=12).start()
    assert worker.settled.wait(10)
    assert (worker.restarts, worker.runs, worker.fatal) == (14, 15, None)
    worker.stop()
    assert not worker.alive


def test_a_worker_that_never_gets_going_is_reported_once_and_ends():
    reported = []
    worker = Flaky(failures_before_ready=99, failures_after_ready=0)
    worker.on_fatal = reported.append
    worker.start()
    wait_until(lambda: not worker.alive)
    assert reported == [worker] and worker.runs == worker.max_failed_starts
    assert worker.fatal == "flaky could not start (5 tries): ConnectionError: no broker"


class Scripted(BackgroundWorker):
    """Each run takes the next step: "down" raises before ready(), "drops" raises after it, "up" runs."""

    name = "scripted"
    restart_delay = 0.01

    def __init__(self, *steps: str) -> None:
        super().__init__()
        self.steps = list(steps)
        self.settled = threading.Event()

    def _run(self) -> None:
        step = self.steps.pop(0) if self.steps else "up"
        if step == "down":
            raise ConnectionError("queue unavailable")
        self.ready()
        if step == "drops":
            raise RuntimeError("delete refused")
        self.settled.set()
        self.stop_event.wait()


def test_a_worker_that_was_running_waits_out_a_dependency_down_for_longer_than_its_start_tries():
    reported = []
    worker = Scripted("drops", *["down"] * (BackgroundWorker.max_failed_starts + 2))
    worker.on_fatal = reported.append
    worker.start()
    assert worker.settled.wait(30)
    assert (reported, worker.fatal, worker.restarts) == ([], None, BackgroundWorker.max_failed_starts + 3)
    worker.stop()
    assert not worker.alive


def test_stop_ends_a_worker_waiting_to_restart():
    worker = Flaky(failures_before_ready=1, failures_after_ready=0)
    worker.restart_delay = 60
    worker.start()
    wait_until(lambda: worker.restarts == 1)
    started = time.monotonic()
    worker.stop()
    assert not worker.alive and time.monotonic() - started < 5
