"""A local stand-in for the EventBridge schedule of the ingest function.

In the cloud a tick comes every minute and each invocation polls for about a minute;
locally the next invocation starts as soon as the last one returns."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from blockhook.local.lambdas import LocalFunction
from blockhook.local.worker import BackgroundWorker

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


class Scheduler(BackgroundWorker):
    name = "scheduler"
    join_timeout = 30.0  # the running invocation finishes its poll first

    def __init__(self, function: LocalFunction) -> None:
        super().__init__()
        self.function = function

    def _run(self) -> None:
        self.ready()
        while not self.stop_event.is_set():
            try:
                self.function.invoke(scheduled_event(), self.stop_event)
            except Exception:
                logger.exception("ingest invocation failed")
                self.stop_event.wait(1.0)
