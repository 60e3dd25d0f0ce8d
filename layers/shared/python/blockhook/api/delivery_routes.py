"""Delivery routes of the REST API (CONTRACT section 2): the delivery log, one delivery with its body
and attempts, replay (of one delivery, or of a monitor's failed or delivered ones of a time range),
test delivery and secret rotation. A powertools Router, included by the
resolver in routes.py, whose middleware, exception handlers and context (the caller's `tenant_id`)
it shares.

This module never imports routes.py at load time (routes.py includes this router); what both
need is in api/common.py.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from botocore.exceptions import ClientError

from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError
from blockhook.api.models import (
    BulkReplayRequest,
    BulkReplayResult,
    DeliveryAttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    MonitorWithRotatedSecret,
    WebhookTestResult,
)
from blockhook.api.presenters import monitor_with_rotated_secret
from blockhook.api.resolver import tenant
from blockhook.store import deliveries as delivery_store
from blockhook.store import monitors as monitor_store
from blockhook.store.blobs import BlobUnavailable
from blockhook.store.models import DeliveryModel, MonitorModel
from blockhook.store.secret_box import configured_secret_box
from blockhook.store.workers import run_all

router = Router()

# What each status of the contract covers in the store: a `retrying` delivery is still pending.
STORE_STATUSES: dict[str, tuple[str, ...]] = {
    "pending": ("pending", "retrying"),
    "delivered": ("delivered",),
    "failed": ("failed",),
}
MAX_REPLAYED_PER_CALL = 500


def _delivery(monitor: MonitorModel, delivery_id: str) -> DeliveryModel:
    """The monitor's delivery; another monitor's or tenant's answers 404 like a missing one."""
    missing = ApiError(404, "not_found", "no such delivery for this monitor")
    if not delivery_store.is_delivery_id(delivery_id):
        raise missing
    try:
        record = delivery_store.get_delivery(delivery_id)
    except delivery_store.DeliveryNotFound:
        raise missing from None
    if record.monitor_id != monitor.monitor_id or record.tenant_id != monitor.tenant_id:
        raise missing
    return record


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def delivery_out(record: DeliveryModel) -> DeliveryOut:
    return DeliveryOut(**_delivery_fields(record))


def delivery_detail(record: DeliveryModel) -> DeliveryDetail:
    """The delivery with its body as posted, the headers of its latest post and its kept attempts."""
    return DeliveryDetail(
        **_delivery_fields(record),
        body=delivery_store.delivery_payload(record),
        headers=json.loads(record.sent_headers) if record.sent_headers else None,
        attempt_log=[
            DeliveryAttemptOut(
                at=int(attempt.at) // 1000,
                status_code=_optional_int(attempt.status_code),
                error=attempt.error,
                duration_ms=int(attempt.latency_ms),
                response=attempt.response,
            )
            for attempt in record.attempt_log or []
        ],
    )


def _delivery_fields(record: DeliveryModel) -> dict[str, Any]:
    status = record.status
    return dict(
        id=record.delivery_id,
        status="pending" if status == "retrying" else status,
        retrying=status == "retrying",
        chain_id=int(record.chain_id),
        sequence=_optional_int(record.sequence),
        block_number=int(record.block_number),
        block_hash=record.block_hash,
        removed=bool(record.removed),
        event_count=int(record.event_count),
        attempts=int(record.attempts or 0),
        last_status_code=_optional_int(record.last_status_code),
        last_error=record.last_error,
        last_latency_ms=_optional_int(record.last_latency_ms),
        next_attempt_at=_optional_int(record.next_attempt_at),
        created_at=int(record.created_at) // 1000,  # stored in milliseconds to order the log
        last_attempt_at=_optional_int(record.last_attempt_at),
        origin=record.origin,
    )


@router.get(
    "/v1/monitors/<monitor_id>/deliveries",
    summary="The monitor's delivery log, newest first",
    responses=responses(200, "A page of deliveries"),
)
def list_deliveries(
    monitor_id: str,
    status: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(description="Only deliveries in this state; pending includes those waiting for a retry"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> DeliveryPage:
    find_monitor(tenant(), monitor_id)
    statuses = STORE_STATUSES[status] if status is not None else None
    items, next_cursor = delivery_store.list_deliveries(monitor_id, statuses, limit, cursor)
    return DeliveryPage(items=[delivery_out(item) for item in items], next_cursor=next_cursor)


# Before the routes of one delivery: "replay" is no delivery id.
@router.post(
    "/v1/monitors/<monitor_id>/deliveries/replay",
    status_code=202,
    summary="Send again the monitor's failed (or delivered) deliveries created in a time range",
    description=f"Oldest first, at most {MAX_REPLAYED_PER_CALL} a call; each is replayed as one replay does."
    " With more: true, call again: those replayed are pending now, so the next call goes on with the next ones.",
    responses=responses(202, "The deliveries replayed, pending again and queued"),
)
def replay_deliveries(monitor_id: str, body: BulkReplayRequest) -> BulkReplayResult:
    until = int(time.time()) if body.until is None else body.until
    if body.since > until:
        raise ApiError(400, "invalid_range", f"since ({body.since}) is after until ({until})")
    monitor = find_monitor(tenant(), monitor_id)
    found = delivery_store.deliveries_created_between(
        monitor.monitor_id, STORE_STATUSES[body.status], body.since * 1000, until * 1000 + 999,
        MAX_REPLAYED_PER_CALL + 1,
    )  # fmt: skip
    chosen = found[:MAX_REPLAYED_PER_CALL]
    replayed = [record for record in run_all(_reset, chosen) if record is not None]
    if replayed:
        from blockhook.wiring import delivery_service  # the queue: loaded only when something is replayed

        delivery_service().queue.send([record.delivery_id for record in replayed], monitor_id=monitor.monitor_id)
    return BulkReplayResult(
        replayed=len(replayed), delivery_ids=[record.delivery_id for record in replayed], more=len(found) > len(chosen)
    )


def _reset(record: DeliveryModel) -> DeliveryModel | None:
    try:
        return delivery_store.reset_for_replay(record)
    except delivery_store.DeliveryNotFound:
        return None  # expired since the read


@router.get(
    "/v1/monitors/<monitor_id>/deliveries/<delivery_id>",
    summary="One delivery: its body exactly as posted, the headers sent and its attempts",
    responses=responses(200, "The delivery"),
)
def get_delivery(monitor_id: str, delivery_id: str) -> DeliveryDetail:
    record = _delivery(find_monitor(tenant(), monitor_id), delivery_id)
    try:
        return delivery_detail(record)
    except BlobUnavailable as error:
        # A large body is kept in S3: S3 failing is a dependency failing, answered 503 as DynamoDB's is
        # (the resolver's handler of AWS errors).
        raise ClientError({"Error": {"Code": "BlobUnavailable", "Message": str(error)}}, "GetObject") from error


@router.post(
    "/v1/monitors/<monitor_id>/deliveries/<delivery_id>/replay",
    status_code=202,
    summary="Send a delivery again",
    responses=responses(202, "The delivery, pending again and queued"),
)
def replay_delivery(monitor_id: str, delivery_id: str) -> DeliveryOut:
    # wiring brings the Kafka and chain clients along: loaded only when a replay needs the queue.
    from blockhook.wiring import delivery_service

    record = _delivery(find_monitor(tenant(), monitor_id), delivery_id)
    try:
        record = delivery_store.reset_for_replay(record)
    except delivery_store.DeliveryNotFound:
        raise ApiError(404, "not_found", "no such delivery for this monitor") from None
    delivery_service().queue.send([record.delivery_id], monitor_id=record.monitor_id)
    return delivery_out(record)


@router.post(
    "/v1/monitors/<monitor_id>/test",
    summary="Send a signed test delivery now",
    responses=responses(200, "What the endpoint answered"),
)
def send_test_webhook(monitor_id: str) -> WebhookTestResult:
    from blockhook.wiring import delivery_service

    # Through the service: a 2xx heals a degraded monitor and sends what waits for it.
    result = delivery_service().send_test(find_monitor(tenant(), monitor_id))
    return WebhookTestResult(
        status_code=result.status_code, ok=result.ok, error=result.error, latency_ms=result.latency_ms,
        delivery_id=result.delivery_id,
    )


@router.post(
    "/v1/monitors/<monitor_id>/rotate-secret",
    summary="Give the monitor a new secret; the old one keeps signing for 24 hours",
    responses=responses(200, "The monitor, with its new secret (shown only here and on create)"),
)
def rotate_secret(monitor_id: str) -> MonitorWithRotatedSecret:
    try:
        monitor, secret = monitor_store.rotate_secret(find_monitor(tenant(), monitor_id), configured_secret_box())
    except monitor_store.MonitorNotFound:
        raise ApiError(404, "not_found", f"no monitor {monitor_id}") from None
    except monitor_store.RotationConflict:
        raise ApiError(
            409, "rotation_conflict", "the secret is being rotated by another call; try again"
        ) from None
    return monitor_with_rotated_secret(monitor, secret)
