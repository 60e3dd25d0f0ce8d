"""Delivery records: written before their queue message, found again by id."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from blockhook.store.models import DeliveryModel
from blockhook.store.paging import decode_cursor, encode_cursor

DELIVERED_RETENTION_SECONDS = 30 * 24 * 3600


class DeliveryNotFound(LookupError):
    pass


def record_delivery(tenant_id: str, payload: Mapping[str, Any]) -> tuple[DeliveryModel, bool]:
    """Store a pending delivery unless one with its (deterministic) id exists.

    Returns the record and whether this call created it."""
    record = DeliveryModel(
        payload["id"],
        monitor_id=payload["monitor_id"],
        tenant_id=tenant_id,
        chain_id=payload["chain_id"],
        block_number=payload["block"]["number"],
        block_hash=payload["block"]["hash"],
        removed=payload["removed"],
        event_count=len(payload["events"]),
        payload=json.dumps(payload, separators=(",", ":")),
        status="pending",
        attempts=0,
        created_at=int(time.time() * 1000),
    )
    try:
        record.save(condition=DeliveryModel.delivery_id.does_not_exist())
        return record, True
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    return get_delivery(payload["id"]), False


def get_delivery(delivery_id: str) -> DeliveryModel:
    try:
        return DeliveryModel.get(delivery_id, consistent_read=True)
    except DoesNotExist:
        raise DeliveryNotFound(delivery_id) from None


def record_attempt(
    record: DeliveryModel,
    *,
    status: str,
    status_code: int | None,
    error: str | None,
    latency_ms: int,
    next_attempt_at: float | None,
) -> None:
    now = time.time()
    actions = [
        DeliveryModel.status.set(status),
        DeliveryModel.attempts.add(1),
        DeliveryModel.last_attempt_at.set(int(now)),
        DeliveryModel.last_latency_ms.set(latency_ms),
        DeliveryModel.last_status_code.set(status_code) if status_code is not None else DeliveryModel.last_status_code.remove(),
        DeliveryModel.last_error.set(error) if error else DeliveryModel.last_error.remove(),
        DeliveryModel.next_attempt_at.set(int(next_attempt_at)) if next_attempt_at else DeliveryModel.next_attempt_at.remove(),
    ]
    if status == "delivered":
        actions.append(DeliveryModel.expires_at.set(int(now) + DELIVERED_RETENTION_SECONDS))
    record.update(actions=actions)


def list_deliveries(
    monitor_id: str, status: str | None, limit: int, cursor: str | None
) -> tuple[list[DeliveryModel], str | None]:
    page = DeliveryModel.by_monitor.query(
        monitor_id,
        scan_index_forward=False,  # newest first
        filter_condition=(DeliveryModel.status == status) if status else None,
        limit=limit,
        last_evaluated_key=decode_cursor(cursor),
    )
    items = list(page)
    return items, encode_cursor(page.last_evaluated_key)
