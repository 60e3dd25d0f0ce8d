"""Deliveries as a small state machine: pending -> delivered, or pending -> retrying -> ... -> failed.

`enqueue` writes the record before its queue message, under an id derived from
(monitor, block, removed, chunk), so a repeat of the same matches writes nothing new.
`attempt` posts once and records the outcome; a retry is a delayed queue message, never
a sleeping function.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from blockhook.delivery.http import AttemptResult, post_webhook
from blockhook.delivery.payload import build_payloads
from blockhook.delivery.payload import delivery_id as make_delivery_id
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.retry import next_attempt_delay, queue_delay
from blockhook.delivery.signing import webhook_headers
from blockhook.delivery.url_policy import WebhookUrlRefused, resolve_webhook_url
from blockhook.store.deliveries import DeliveryNotFound, get_delivery, record_attempt, record_delivery
from blockhook.store.models import MonitorModel
from blockhook.store.monitors import MonitorNotFound, get_monitor
from blockhook.streaming.codec import BlockHeader

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10.0
FINAL_STATUSES = frozenset({"delivered", "failed"})


class DeliveryService:
    def __init__(
        self,
        queue: DeliveryQueue,
        schedule: Sequence[int],
        allow_private_webhooks: bool,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.schedule = tuple(schedule)
        self.allow_private_webhooks = allow_private_webhooks
        self.clock = clock
        self.rng = rng or random.Random()

    def enqueue(
        self,
        tenant_id: str,
        monitor_id: str,
        header: BlockHeader,
        events: Sequence[dict[str, Any]],
        removed: bool = False,
        block_part: int | str | None = None,
    ) -> list[str]:
        """Record and queue the deliveries of one monitor's events of one block.

        `block_part` tells apart the chunks of a block that crossed Kafka in several
        messages, and backfill runs from live delivery, so their deliveries get distinct ids."""
        block_key = header.hash if block_part is None else f"{header.hash}#{block_part}"
        payloads = build_payloads(monitor_id, header.chain_id, header.as_payload_block(), events, removed)
        if block_part is not None:
            for chunk, payload in enumerate(payloads):
                payload["id"] = make_delivery_id(monitor_id, block_key, removed, chunk)
        to_queue = []
        for payload in payloads:
            record, created = record_delivery(tenant_id, payload)
            # A repeat finds the record; if it never went out, its message may have been lost: send again.
            if created or (record.status == "pending" and int(record.attempts) == 0):
                to_queue.append(record.delivery_id)
        self.queue.send(to_queue)
        return [payload["id"] for payload in payloads]

    def attempt(self, delivery_id: str) -> str:
        """Post one delivery once; returns the resulting status."""
        try:
            record = get_delivery(delivery_id)
        except DeliveryNotFound:
            logger.error("queued delivery has no record", extra={"delivery_id": delivery_id})
            return "missing"
        if record.status in FINAL_STATUSES:
            return record.status  # a duplicate message: already settled
        now = self.clock()
        if record.next_attempt_at and record.next_attempt_at > now + 1:
            # SQS delays stop at 15 minutes: a longer wait hops through several messages.
            self.queue.send([delivery_id], queue_delay(record.next_attempt_at, now))
            return record.status
        try:
            monitor = get_monitor(record.tenant_id, record.monitor_id)
        except MonitorNotFound:
            record_attempt(record, status="failed", status_code=None, error="monitor deleted", latency_ms=0, next_attempt_at=None)
            return "failed"
        result = self._post(monitor, delivery_id, record.payload.encode(), now)
        return self._settle(record, result, now)

    def _post(self, monitor: MonitorModel, delivery_id: str, body: bytes, now: float) -> AttemptResult:
        try:
            target = resolve_webhook_url(monitor.webhook_url, self.allow_private_webhooks)
        except WebhookUrlRefused as refused:
            return AttemptResult(False, None, f"webhook URL refused: {refused}", 0, "")
        headers = webhook_headers(delivery_id, [monitor.secret], body, int(now))
        return post_webhook(
            monitor.webhook_url, body, headers, timeout=WEBHOOK_TIMEOUT_SECONDS, connect_to=target.address
        )

    def _settle(self, record, result: AttemptResult, now: float) -> str:
        attempts_made = int(record.attempts) + 1
        if result.ok:
            record_attempt(
                record, status="delivered", status_code=result.status_code, error=None,
                latency_ms=result.latency_ms, next_attempt_at=None,
            )
            return "delivered"
        delay = next_attempt_delay(attempts_made, self.schedule, self.rng)
        error = result.error or f"HTTP {result.status_code}"
        if delay is None:
            record_attempt(
                record, status="failed", status_code=result.status_code, error=error,
                latency_ms=result.latency_ms, next_attempt_at=None,
            )
            logger.warning("delivery failed for good", extra={"delivery_id": record.delivery_id, "attempts": attempts_made})
            return "failed"
        due_at = now + delay
        record_attempt(
            record, status="retrying", status_code=result.status_code, error=error,
            latency_ms=result.latency_ms, next_attempt_at=due_at,
        )
        self.queue.send([record.delivery_id], queue_delay(due_at, now))
        return "retrying"
