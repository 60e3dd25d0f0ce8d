"""How many batched JSON-RPC requests one chain keeps in flight: additive increase, multiplicative
decrease (AIMD), as TCP finds a link's speed.

A node answers one batch of blocks at a time well below what it can serve: most of a request's
time is the node building JSON and the answer crossing the network, so with several requests in
flight the node and the wire work while ingest produces. A provider that says "too much" (HTTP
429 or 503, a rate-limit error) or stops answering in time gets half as many requests in flight
(at least one) and nothing new for a back-off period that doubles with each decrease in a row;
a run of answers in time adds one back, up to the chain's `max_requests_in_flight`.

Pure logic: the caller passes the time (seconds, any monotonic origin) of each send and answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# The first back-off after a decrease, doubled with each further decrease in a row, up to the cap.
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0


@dataclass
class RequestWindow:
    maximum: int
    climb_after: int = 8  # answers in time, in a row, for one more request in flight
    backoff: float = BACKOFF_SECONDS
    max_backoff: float = MAX_BACKOFF_SECONDS

    def __post_init__(self) -> None:
        if self.maximum < 1:
            raise ValueError(f"the window needs at least one request in flight, not {self.maximum}")
        self.size = self.maximum  # starts wide open: a chain that is not limited loses nothing
        self._successes = 0
        self._decreases = 0  # in a row, without an answer in time since
        self._decreased_at = float("-inf")
        self._resume_at = float("-inf")

    def overloaded(self, sent_at: float, now: float) -> None:
        """A request sent at `sent_at` was refused as too much, or timed out. Requests sent before the
        last decrease were part of the burst it already answered for: they do not halve it again."""
        self._successes = 0
        if sent_at < self._decreased_at:
            return
        self.size = max(1, self.size // 2)
        self._decreases += 1
        self._decreased_at = now
        self._resume_at = now + min(self.max_backoff, self.backoff * 2 ** (self._decreases - 1))

    def answered(self, sent_at: float) -> None:
        """A request sent at `sent_at` was answered."""
        if sent_at < self._decreased_at:
            return  # sent into the burst before the last decrease: says nothing of the new size
        self._decreases = 0
        self._successes += 1
        if self._successes >= self.climb_after:
            self._successes = 0
            self.size = min(self.maximum, self.size + 1)

    def wait(self, now: float) -> float:
        """Seconds to wait before sending another request (0 outside a back-off)."""
        return max(0.0, self._resume_at - now)

    def room(self, in_flight: int, now: float) -> bool:
        """Whether one more request may be sent now, with `in_flight` requests not yet answered."""
        return in_flight < self.size and self.wait(now) == 0
