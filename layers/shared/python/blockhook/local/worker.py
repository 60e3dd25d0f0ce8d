"""A background thread with a stop signal: the shape of every local event source."""

from __future__ import annotations

import threading


class BackgroundWorker:
    name = "worker"
    join_timeout = 10.0

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=self.join_timeout)

    def _run(self) -> None:
        raise NotImplementedError
