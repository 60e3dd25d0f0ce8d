"""run_ingest: one chain's trouble (any error its poll raises, a node that hangs) never holds up another."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from blockhook.ingest.service import PollResult, run_ingest
from blockhook.streaming.codec import EventTooLarge

WAIT = 30.0  # generous bound on waiting for a condition; never a measured time


class FakeProducer:
    def __init__(self) -> None:
        self.discards = 0

    def discard(self) -> None:
        self.discards += 1


class FakeIngest:
    """A chain whose every poll does `behaviour`; counts its polls and signals each one."""

    def __init__(self, chain_id: int, behaviour) -> None:
        self.chain_id = chain_id
        self.config = SimpleNamespace(poll_interval=0.01)
        self.producer = FakeProducer()
        self.behaviour = behaviour
        self.polls = 0
        self.polled = threading.Condition()

    def poll(self, should_stop) -> PollResult:
        with self.polled:
            self.polls += 1
            self.polled.notify_all()
        return self.behaviour(self)

    def wait_polls(self, count: int) -> bool:
        with self.polled:
            return self.polled.wait_for(lambda: self.polls >= count, timeout=WAIT)


def fine(ingest: FakeIngest) -> PollResult:
    return PollResult(ingest.chain_id, head=ingest.polls, blocks=1)


def test_any_error_of_one_chains_poll_ends_that_poll_alone_and_is_retried_at_its_next_poll():
    errors = [KeyError("number"), MessageSizeTooLargeError("too big"), KafkaTimeoutError("metadata"),
              EventTooLarge("stand-in too big"), TypeError("garbage")]  # fmt: skip

    def failing(ingest: FakeIngest) -> PollResult:
        raise errors[(ingest.polls - 1) % len(errors)]

    bad, good = FakeIngest(1, failing), FakeIngest(2, fine)  # the bad chain is listed first
    results = run_ingest([bad, good], should_stop=lambda: good.polls >= 6 and bad.polls >= 6)

    assert [r.error for r in results if r.chain_id == 2] == [None] * good.polls
    bad_errors = [r.error for r in results if r.chain_id == 1]
    assert len(bad_errors) == bad.polls >= 6
    assert bad_errors[:5] == [f"{type(e).__name__}: {e}" for e in errors]
    # What the failed poll had sent but not had acknowledged is not counted against its next poll.
    assert bad.producer.discards == bad.polls and good.producer.discards == 0


def test_a_hanging_node_holds_up_its_own_chain_only():
    release, stop = threading.Event(), threading.Event()

    def hanging(ingest: FakeIngest) -> PollResult:
        release.wait(WAIT)  # a node that does not answer (until its timeout: here, the test's release)
        return PollResult(ingest.chain_id, error="RpcUnavailable: timed out")

    stuck, live = FakeIngest(1, hanging), FakeIngest(2, fine)
    outcome: list[list[PollResult]] = []
    runner = threading.Thread(target=lambda: outcome.append(run_ingest([stuck, live], should_stop=stop.is_set)))
    runner.start()
    try:
        assert live.wait_polls(20), "the live chain stopped polling while the other hung"
        assert stuck.polls == 1  # still inside its first poll
    finally:
        stop.set()
        release.set()
        runner.join(WAIT)
    assert not runner.is_alive()
    (results,) = outcome
    assert sum(r.chain_id == 2 for r in results) >= 20
    assert [r.chain_id for r in results].count(1) == 1


def test_a_chains_backfill_failure_is_that_chains_alone():
    stop = threading.Event()
    good = FakeIngest(2, fine)
    steps: list[int] = []

    closed: list[int] = []

    class Backfills:
        def step(self, chain_id: int) -> int:
            steps.append(chain_id)
            if chain_id == 1:
                raise RuntimeError("backfill of chain 1 cannot read its node")
            if steps.count(2) >= 5:
                stop.set()
            return 0

        def close(self, chain_id: int) -> None:
            closed.append(chain_id)
            if chain_id == 1:
                raise RuntimeError("chain 1's node hung up")

    results = run_ingest([FakeIngest(1, fine), good], should_stop=stop.is_set, backfills=Backfills())
    assert steps.count(2) >= 5 and steps.count(1) >= 1
    assert all(r.error is None for r in results)
    assert sorted(closed) == [1, 2]  # each chain's thread ends its own, whatever the other's did
