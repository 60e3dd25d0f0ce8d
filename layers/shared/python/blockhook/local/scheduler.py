"""A local stand-in for the EventBridge schedule of the ingest function.

In the cloud a tick comes every minute and each invocation polls for about a minute;
locally the next invocation starts as soon as the last one returns."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from blockhook.local.lambdas import LocalFunction

logger = logging.getLogger(__name__)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "local",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/blockhook-ingest"],
        "detail": {},
    }


class Scheduler:
    def __init__(self, function: LocalFunction) -> None:
        self.function = function
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.function.invoke(scheduled_event(), self.stop_event)
            except Exception:
                logger.exception("ingest invocation failed")
                self.stop_event.wait(1.0)
