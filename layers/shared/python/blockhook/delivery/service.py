"""Deliveries as a small state machine: pending -> delivered, or pending -> retrying -> ... -> failed.

`enqueue` writes the record before its queue message, under an id derived from
(monitor, block, removed, chunk, generation), so a repeat of the same matches writes nothing new.
It is the one place deliveries of the chain are created, and numbers them: `sequence` 1, 2, 3, ...
per (monitor, chain), with no gaps, a repeat consuming no number (store/deliveries.py); each is
recorded with its `origin` (delivery/origin.py). The test delivery is not a delivery of the chain:
it has no sequence, and is recorded (origin `test`) as it is posted, settled by that one attempt.
`attempt` posts once and records the outcome, with the headers sent and the start of the answer;
a retry is a delayed queue message, never a sleeping function.

Replay (`store.deliveries.reset_for_replay`) puts a settled or in-flight delivery back to
`pending` with no `next_attempt_at`, so the next message posts it again. Its `attempts` are kept
as history; `replayed_at_attempt` remembers them, and the retry schedule counts only the attempts
made since, so a replayed delivery gets the whole schedule again. Before posting, an attempt
claims the record (`claim_attempt`): of two messages for one delivery (an SQS duplicate, or the
delayed message of a delivery replayed meanwhile) only one posts, and the other is dropped. A replay
that comes while an attempt is in flight takes its claim away: that attempt's outcome is counted as
history and does not settle the delivery, which the replay's message sends again.

Each attempt recorded also adds to the monitor's stats of its hour (store/delivery_stats.py): an
attempt that settles its delivery counts its outcome there once, where record_attempt settled it;
one a replay superseded counts as an attempt only. A stats write that fails is logged and skipped,
never retried with the delivery.

Signatures: one `v1=` per secret, the current one first, and the monitor's previous secret for
as long as it has not expired (CONTRACT section 4, secret rotation).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from blockhook.delivery.http import AttemptResult, post_webhook
from blockhook.delivery.origin import LIVE, TEST
from blockhook.delivery.payload import build_payloads, encode_body
from blockhook.delivery.payload import delivery_id as make_delivery_id
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.retry import next_attempt_delay, queue_delay
from blockhook.delivery.signing import webhook_headers
from blockhook.delivery.url_policy import WebhookUrlRefused, resolve_webhook_url
from blockhook.store.deliveries import (
    DeliveryNotFound,
    claim_attempt,
    delivery_payload,
    get_delivery,
    make_due,
    record_attempt,
    record_deliveries,
    record_test_delivery,
    waiting_deliveries,
)
from blockhook.store.delivery_stats import record_attempt_stats
from blockhook.store.endpoint_health import (
    claim_probe,
    is_degraded,
    probe_due,
    record_failure,
    record_success,
)
from blockhook.store.models import MonitorModel
from blockhook.store.monitors import MonitorNotFound, get_monitor
from blockhook.store.secret_box import KmsSecretBox
from blockhook.streaming.codec import BlockHeader

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10.0
FINAL_STATUSES = frozenset({"delivered", "failed"})
# How long a claimed attempt holds the delivery: the post's own time bound, with room to record it.
ATTEMPT_LEASE_SECONDS = 6 * WEBHOOK_TIMEOUT_SECONDS
TEST_DELIVERY_PREFIX = "dlv_test_"
# Reads of a delivery whose claim was lost: a replay that superseded an attempt in flight changes the
# record once more (the attempt counted) after its message read it.
_CLAIM_TRIES = 3
DRAIN_LIMIT = 1000  # waiting deliveries sent again at once when an endpoint recovers
_ZERO_HASH = "0x" + "00" * 32


class Attempted(NamedTuple):
    """What `attempt_delivery` did with a delivery: its resulting status, and its origin (None when
    there is no record, or the record has none)."""

    status: str
    origin: str | None


@dataclasses.dataclass(frozen=True)
class SentTestDelivery(AttemptResult):
    """A test delivery's attempt, and the id it was recorded under."""

    delivery_id: str | None = None


def signing_secrets(monitor: MonitorModel, now: float, box: KmsSecretBox) -> list[str]:
    """The secrets a webhook of this monitor is signed with at `now`, opened: current first, then
    the previous one while its rotation grace period lasts. Raises SecretBoxError."""
    sealed = [monitor.sealed_secret]
    previous, expires_at = monitor.sealed_previous_secret, monitor.previous_secret_expires_at
    if previous and expires_at is not None and now < float(expires_at) and previous != monitor.sealed_secret:
        sealed.append(previous)
    return [box.open(value, monitor.monitor_id) for value in sealed]


def build_test_payload(monitor: MonitorModel, delivery_id: str, now: float) -> dict[str, Any]:
    """A body shaped like a real delivery (CONTRACT section 4), marked `"test": true`, with no events."""
    return {
        "id": delivery_id,
        "monitor_id": monitor.monitor_id,
        "chain_id": int(monitor.chain_ids[0]) if monitor.chain_ids else None,
        "block": {"number": 0, "hash": _ZERO_HASH, "parent_hash": _ZERO_HASH, "timestamp": int(now)},
        "removed": False,
        "events": [],
        "test": True,
    }


def _not_sent(monitor: MonitorModel) -> AttemptResult:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(monitor.failing_since or 0)))
    return AttemptResult(
        False, None, f"not sent: endpoint degraded since {since} (last failure: {monitor.last_failure})", 0, ""
    )


def post_signed(
    monitor: MonitorModel, delivery_id: str, body: bytes, now: float, allow_private_webhooks: bool,
    signing_with: Sequence[str],
) -> AttemptResult:
    """One POST of `body` to the monitor's webhook, signed with each secret of `signing_with`,
    under the URL policy of the mode."""
    try:
        target = resolve_webhook_url(monitor.webhook_url, allow_private_webhooks)
    except WebhookUrlRefused as refused:
        return AttemptResult(False, None, f"webhook URL refused: {refused}", 0, "")
    headers = webhook_headers(delivery_id, signing_with, body, int(now))
    result = post_webhook(
        monitor.webhook_url, body, headers, timeout=WEBHOOK_TIMEOUT_SECONDS, connect_to=target.address
    )
    return dataclasses.replace(result, sent_headers=headers)


def _payloads(
    monitor_id: str,
    header: BlockHeader,
    events: Sequence[dict[str, Any]],
    removed: bool,
    block_part: int | str | None,
    generation: int,
) -> list[dict[str, Any]]:
    payloads = build_payloads(monitor_id, header.chain_id, header.as_payload_block(), events, removed, generation)
    if block_part is not None:
        block_key = f"{header.hash}#{block_part}"
        for chunk, payload in enumerate(payloads):
            payload["id"] = make_delivery_id(monitor_id, block_key, removed, chunk, generation)
    return payloads


class DeliveryService:
    def __init__(
        self,
        queue: DeliveryQueue,
        schedule: Sequence[int],
        allow_private_webhooks: bool,
        box: KmsSecretBox,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.schedule = tuple(schedule)
        self.allow_private_webhooks = allow_private_webhooks
        self.box = box
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
        generation: int = 0,
        origin: str = LIVE,
    ) -> list[str]:
        """Record and queue the deliveries of one monitor's events of one block.

        `block_part` tells apart the chunks of a block that crossed Kafka in several
        messages, and backfill runs from live delivery, so their deliveries get distinct ids;
        `generation` tells apart each time the block came back after a revert; `origin` is what
        made them (delivery/origin.py), recorded with them."""
        payloads = _payloads(monitor_id, header, events, removed, block_part, generation)
        to_queue = []
        for record, created in record_deliveries(tenant_id, payloads, origin):
            # A repeat finds the record; if it never went out, its message may have been lost: send again.
            if created or (record.status == "pending" and int(record.attempts) == 0):
                to_queue.append(record.delivery_id)
        self.queue.send(to_queue, correlation_id=header.correlation_id, monitor_id=monitor_id)
        return [payload["id"] for payload in payloads]

    def recorded(
        self,
        monitor_id: str,
        header: BlockHeader,
        events: Sequence[dict[str, Any]],
        removed: bool = False,
        block_part: int | str | None = None,
        generation: int = 0,
    ) -> bool:
        """Whether `enqueue` with these arguments has recorded its deliveries (the first is written first)."""
        payloads = _payloads(monitor_id, header, events, removed, block_part, generation)
        if not payloads:
            return False
        try:
            get_delivery(payloads[0]["id"])
        except DeliveryNotFound:
            return False
        return True

    def attempt(self, delivery_id: str) -> str:
        """Post one delivery once; returns the resulting status."""
        return self.attempt_delivery(delivery_id).status

    def attempt_delivery(self, delivery_id: str) -> Attempted:
        """Post one delivery once; returns the resulting status and the delivery's origin."""
        lost_claim = False
        origin = None
        for _ in range(_CLAIM_TRIES):
            try:
                record = get_delivery(delivery_id)
            except DeliveryNotFound:
                logger.error("queued delivery has no record", extra={"delivery_id": delivery_id})
                return Attempted("missing", None)
            origin = record.origin
            if record.status in FINAL_STATUSES:
                return Attempted(record.status, origin)  # a duplicate message: already settled
            now = self.clock()
            if record.next_attempt_at and record.next_attempt_at > now + 1:
                if lost_claim:
                    break  # the claim's winner holds it now, and queues what follows
                # SQS delays stop at 15 minutes: a longer wait hops through several messages.
                self.queue.send([delivery_id], queue_delay(record.next_attempt_at, now), monitor_id=record.monitor_id)
                return Attempted(record.status, origin)
            try:
                monitor = get_monitor(record.tenant_id, record.monitor_id)
            except MonitorNotFound:
                record_attempt(record, status="failed", status_code=None, error="monitor deleted", latency_ms=0, next_attempt_at=None)
                return Attempted("failed", origin)
            # Opened before the claim: when KMS fails, the message is retried with nothing held.
            signing_with = signing_secrets(monitor, now, self.box)
            claim = claim_attempt(record, now + ATTEMPT_LEASE_SECONDS)
            if claim is not None:
                return Attempted(self._attempt_claimed(record, monitor, claim, signing_with, now), origin)
            lost_claim = True
            # The record changed since the read: another message claimed it (its lease shows when read
            # again), or an attempt that a replay superseded was counted meanwhile (then it is due now
            # and this message, the replay's, must send it). Read it again and decide anew.
        logger.info("delivery attempt already claimed", extra={"delivery_id": delivery_id})
        return Attempted("duplicate", origin)

    def _attempt_claimed(
        self, record, monitor: MonitorModel, claim: str, signing_with: Sequence[str], now: float
    ) -> str:
        if is_degraded(monitor) and not (
            probe_due(monitor, now) and claim_probe(monitor, now, ATTEMPT_LEASE_SECONDS)
        ):
            # A dead endpoint costs one probe per wait, not a timeout per delivery: this attempt is
            # spent without a request, on the delivery's own schedule, and the endpoint is not blamed again.
            return self._settle(record, _not_sent(monitor), now, claim)
        result = post_signed(
            monitor, record.delivery_id, delivery_payload(record).encode(), now, self.allow_private_webhooks,
            signing_with,
        )
        status = self._settle(record, result, now, claim)
        self._note_health(monitor, result, now)
        return status

    def send_test(self, monitor: MonitorModel) -> SentTestDelivery:
        """A signed test delivery to the monitor's webhook now, with this service's URL policy and clock,
        recorded in the monitor's delivery log (origin `test`, no sequence) with its one attempt.

        It tells the endpoint's health like any attempt: a 2xx heals a degraded monitor at once."""
        now = self.clock()
        delivery_id = TEST_DELIVERY_PREFIX + secrets.token_hex(12)
        body = encode_body(build_test_payload(monitor, delivery_id, now))
        signing_with = signing_secrets(monitor, now, self.box)
        record, claim = record_test_delivery(
            monitor.tenant_id, monitor.monitor_id, int(monitor.chain_ids[0]), delivery_id, body,
            now + ATTEMPT_LEASE_SECONDS,
        )  # fmt: skip
        result = post_signed(monitor, delivery_id, body, now, self.allow_private_webhooks, signing_with)
        record_attempt(
            record, status="delivered" if result.ok else "failed", status_code=result.status_code,
            error=None if result.ok else result.error or f"HTTP {result.status_code}", latency_ms=result.latency_ms,
            next_attempt_at=None, claim=claim, response_excerpt=result.response_excerpt, headers=result.sent_headers,
        )  # fmt: skip
        self._count_attempt(monitor.monitor_id, now, ok=result.ok)  # a test counts as an attempt only
        self._note_health(monitor, result, self.clock())
        return SentTestDelivery(**dataclasses.asdict(result), delivery_id=delivery_id)

    def endpoint_changed(self, monitor: MonitorModel) -> int:
        """The monitor has a new webhook URL: the old one's failures say nothing about it. Forget them and
        send what waits at once; returns how many deliveries were made due."""
        record_success(monitor)
        return self.drain(monitor.monitor_id)

    def drain(self, monitor_id: str) -> int:
        """Make the monitor's waiting deliveries due now and queue them (at most DRAIN_LIMIT); their
        delayed messages, when they come, find them settled or claimed. Returns how many were queued."""
        due = [record.delivery_id for record in waiting_deliveries(monitor_id, DRAIN_LIMIT) if make_due(record)]
        self.queue.send(due, monitor_id=monitor_id)
        if due:
            logger.info("endpoint recovered: waiting deliveries sent again", extra={"monitor_id": monitor_id,
                                                                                   "deliveries": len(due)})
        return len(due)

    def _note_health(self, monitor: MonitorModel, result: AttemptResult, now: float) -> None:
        if result.ok:
            if record_success(monitor):
                self.drain(monitor.monitor_id)
            return
        record_failure(monitor, result.error or f"HTTP {result.status_code}", now, self._probe_delay)

    def _count_attempt(self, monitor_id: str, now: float, **counted) -> None:
        """Add the attempt to the monitor's delivery stats (store/delivery_stats.py). Never fails the
        attempt: it is recorded already, and a stats miss costs less than the delivery's retry."""
        try:
            record_attempt_stats(monitor_id, now, **counted)
        except Exception as error:  # noqa: BLE001 - whatever the stats write raises, the delivery goes on
            logger.warning("delivery stats not counted", extra={"monitor_id": monitor_id, "error": str(error)})

    def _probe_delay(self, degraded_failures: int) -> float:
        """The wait before the next probe of a degraded endpoint: the retry schedule's steps, in turn."""
        if not self.schedule:
            return 0.0
        return float(self.schedule[min(degraded_failures, len(self.schedule) - 1)])

    def _settle(self, record, result: AttemptResult, now: float, claim: str) -> str:
        # Attempts before a replay are history: the schedule starts again from its first step.
        attempts_made = int(record.attempts) + 1 - int(record.replayed_at_attempt or 0)
        outcome = {"status_code": result.status_code, "latency_ms": result.latency_ms, "claim": claim}
        if result.ok:
            status, error, due_at = "delivered", None, None
        else:
            delay = next_attempt_delay(attempts_made, self.schedule, self.rng)
            error = result.error or f"HTTP {result.status_code}"
            status, due_at = ("failed", None) if delay is None else ("retrying", now + delay)
        outcome.update(response_excerpt=result.response_excerpt, headers=result.sent_headers)
        first_success = result.ok and not any(_is_2xx(attempt.status_code) for attempt in record.attempt_log or [])
        if not record_attempt(record, status=status, error=error, next_attempt_at=due_at, **outcome):
            # Replayed while this attempt was in flight: the replay's message sends it again. The attempt
            # was made (and is kept as history), but settled nothing.
            self._count_attempt(record.monitor_id, now, ok=result.ok)
            logger.info("delivery replayed during its attempt", extra={"delivery_id": record.delivery_id})
            return "replayed"
        if record.origin == TEST:
            self._count_attempt(record.monitor_id, now, ok=result.ok)
        else:
            # Latency of a delivery: from its creation to the end of its first 2xx attempt.
            latency = now * 1000 + result.latency_ms - int(record.created_at) if first_success else None
            self._count_attempt(record.monitor_id, now, ok=result.ok, outcome=status, latency_ms=latency)
        logger.info(
            "delivery attempt",
            extra={"monitor_id": record.monitor_id, "delivery_id": record.delivery_id, "status_code": result.status_code,
                   "latency_ms": result.latency_ms, "outcome": status, "error": error, "origin": record.origin},
        )  # fmt: skip
        if status == "failed":
            logger.warning("delivery failed for good", extra={"delivery_id": record.delivery_id, "attempts": attempts_made})
        elif status == "retrying":
            self.queue.send([record.delivery_id], queue_delay(due_at, now), monitor_id=record.monitor_id)
        return status


def _is_2xx(status_code: float | None) -> bool:
    return status_code is not None and 200 <= int(status_code) < 300
