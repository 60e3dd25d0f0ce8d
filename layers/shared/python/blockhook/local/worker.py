"""A supervised background thread with a stop signal: the shape of every local event source.

A worker whose loop raises is logged and started again (after a short pause that grows while
it keeps failing), so `make up` never goes on with a silently dead poller. A worker that
cannot get going at all (it fails `max_failed_starts` times in a row before it ever called
`ready()`) gives up and reports why through `on_fatal`: the stack then stops with that
message instead of running without it. Once it has been ready, a dependency that is down for
a while (its restarts failing before `ready()` again) is waited out, never fatal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BackgroundWorker:
    name = "worker"
    join_timeout = 10.0
    restart_delay = 1.0  # seconds before the first restart; doubles while it keeps failing, up to 30
    max_failed_starts = 5

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self.restarts = 0
        self.fatal: str | None = None
        self.on_fatal: Callable[[BackgroundWorker], None] = lambda worker: None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=self.name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=self.join_timeout)

    def ready(self) -> None:
        """Called by `_run` once it is set up and working: later failures are restarted, never fatal."""
        self._ready.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _supervise(self) -> None:
        failed_starts = 0
        delay = self.restart_delay
        been_ready = False
        while not self.stop_event.is_set():
            self._ready.clear()
            try:
                self._run()
                return  # _run returns only once told to stop
            except Exception as error:
                if self.stop_event.is_set():
                    return
                been_ready = been_ready or self._ready.is_set()
                failed_starts = 0 if self._ready.is_set() else failed_starts + 1
                delay = self.restart_delay if self._ready.is_set() else delay
                if failed_starts >= self.max_failed_starts and not been_ready:
                    self.fatal = f"{self.name} could not start ({failed_starts} tries): {type(error).__name__}: {error}"
                    logger.error("%s", self.fatal)
                    self.on_fatal(self)
                    return
                self.restarts += 1
                logger.exception("%s failed; restarting it in %.0f s", self.name, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 30.0)

    def _run(self) -> None:
        raise NotImplementedError
