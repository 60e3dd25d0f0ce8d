"""One ingest at a time per chain without reserved concurrency: the chain's lease, on the real state table
(moto server), taken by run_ingest before it polls and let go when it stops."""

from __future__ import annotations

import random
import threading
import time
from types import SimpleNamespace

import pytest

from blockhook.ingest.service import PollResult, run_ingest
from blockhook.store.leases import MARGIN_SECONDS, ChainLeases

WAIT = 30.0  # a bound on waiting for a condition; never a measured time


@pytest.fixture
def chain_id(moto_endpoint) -> int:
    return random.randrange(10**6, 10**9)  # a chain no other test holds


def test_a_lease_is_held_by_one_invocation_until_released_or_run_out(chain_id: int) -> None:
    now = [1_000.0]
    first = ChainLeases("request-a", deadline=1_060.0, clock=lambda: now[0])
    second = ChainLeases("request-b", deadline=1_120.0, clock=lambda: now[0])
    assert first.take(chain_id)
    assert not second.take(chain_id)
    assert first.take(chain_id)  # its own again
    first.release(chain_id)
    assert second.take(chain_id)
    second.release(chain_id)
    second.release(chain_id)  # no longer held: nothing to do

    assert first.take(chain_id)
    now[0] = 1_060.0 + MARGIN_SECONDS - 0.5  # past its deadline, not past the margin
    assert not second.take(chain_id)
    now[0] = 1_060.0 + MARGIN_SECONDS + 0.5  # a holder that crashed: its lease has run out
    assert second.take(chain_id)
    first.release(chain_id)  # not its lease any more: leaves it alone
    assert not ChainLeases("request-c", deadline=2_000.0, clock=lambda: now[0]).take(chain_id)


class Chain:
    """A chain whose polls record how many invocations poll it at the same moment."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.config = SimpleNamespace(poll_interval=0.01)
        self.producer = SimpleNamespace(discard=lambda: None)
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.polls_by: dict[str, int] = {}

    def polled_by(self, name: str):
        chain = self

        class Polling:
            chain_id = chain.chain_id
            config = chain.config
            producer = chain.producer

            def poll(self, should_stop) -> PollResult:
                with chain.lock:
                    chain.active += 1
                    chain.most_active = max(chain.most_active, chain.active)
                    chain.polls_by[name] = chain.polls_by.get(name, 0) + 1
                time.sleep(0.01)
                with chain.lock:
                    chain.active -= 1
                return PollResult(chain.chain_id, blocks=1)

        return Polling()


def test_an_overlapping_invocation_waits_for_the_chain_and_takes_over_when_the_first_stops(
    chain_id: int,
) -> None:
    chain = Chain(chain_id)
    first_stop, second_stop = threading.Event(), threading.Event()
    deadline = time.time() + 120

    def invocation(name: str, stop: threading.Event) -> None:
        run_ingest([chain.polled_by(name)], should_stop=stop.is_set, leases=ChainLeases(name, deadline))

    first = threading.Thread(target=invocation, args=("first", first_stop))
    first.start()
    assert _wait(lambda: chain.polls_by.get("first", 0) >= 3)
    second = threading.Thread(target=invocation, args=("second", second_stop))
    second.start()
    time.sleep(1.5)  # the second asks for the lease (every second) while the first holds it
    assert chain.polls_by.get("second", 0) == 0

    first_stop.set()
    first.join(WAIT)
    assert _wait(lambda: chain.polls_by.get("second", 0) >= 3)  # taken over without waiting for a deadline
    second_stop.set()
    second.join(WAIT)
    assert chain.most_active == 1


def test_an_invocation_that_never_gets_the_lease_polls_nothing_and_returns(chain_id: int) -> None:
    holder = ChainLeases("holder", deadline=time.time() + 120)
    assert holder.take(chain_id)
    chain = Chain(chain_id)
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    results = run_ingest(
        [chain.polled_by("late")], should_stop=stop.is_set, leases=ChainLeases("late", time.time() + 60)
    )
    assert results == [] and chain.polls_by == {}
    holder.release(chain_id)


def _wait(condition) -> bool:
    end = time.monotonic() + WAIT
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False
