"""Per-tenant token buckets: the local stand-in for API Gateway's usage-plan throttle.

Each tenant may send `burst` requests at once and `rate` requests a second after that, the
rule API Gateway applies per API key in the cloud (infra/blockhook_infra/api.py)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Refills are float arithmetic: 1/rate seconds may add 0.9999999999 of a token, which is one
# (and 3.0000000001 seconds to wait is 3).
_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key; safe to share between threads. `clock` is seconds, monotonic."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a positive number of requests a second, not {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1 request, not {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> int:
        """Take one request from `key`'s bucket: 0 when it may go, else the whole seconds (>= 1)
        to wait before the bucket holds a request again (the Retry-After of the refusal)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            # A clock that goes back (it should not) refills nothing rather than draining.
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0 - _EPSILON:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate - _EPSILON))
