"""Threads for the DynamoDB calls one request or batch sends side by side, kept for the process's life.

PynamoDB gives each thread a botocore session and client of its own (a thread-local of its
Connection), and making one loads botocore's DynamoDB model: a tenth of a second or more. A pool made
per call pays that for each of its threads on every call; these threads keep theirs across calls, and
across the invocations of a warm Lambda. Work run here must not itself wait on this pool.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

WORKERS = 16
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="store")


def run_all(work: Callable[[_T], _R], parts: Iterable[_T]) -> list[_R]:
    """`work` of each part, in order; the first error raised is raised here. Each runs in a copy of the
    caller's context (its logging keys and the local stack's function name hold there too). A single
    part runs in the caller's thread."""
    parts = list(parts)
    if len(parts) <= 1:
        return [work(part) for part in parts]
    futures = [_pool.submit(contextvars.copy_context().run, work, part) for part in parts]
    return [future.result() for future in futures]
