"""Stored monitors as the API answers them (CONTRACT section 2): the secret only where asked for,
and each with its newest delivery (the by_monitor index, newest first, one item)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockhook.api.models import (
    BackfillOut,
    ChainSequenceOut,
    EndpointHealthOut,
    LastDeliveryOut,
    MonitorDetail,
    MonitorOut,
    MonitorWithRotatedSecret,
    MonitorWithSecret,
    ReconcileOut,
    ReconcileProgress,
)
from blockhook.store.deliveries import SequenceMark, newest_delivery
from blockhook.store.endpoint_health import is_degraded
from blockhook.store.models import BackfillAttribute, DeliveryModel, MonitorModel, ReconcileAttribute
from blockhook.store.monitors import address_scope
from blockhook.store.workers import run_all


def monitor_out(monitor: MonitorModel, new: bool = False) -> MonitorOut:
    """`new`: just created, so it has no delivery (nothing to read)."""
    return MonitorOut(**_monitor_fields(monitor, None if new else newest_delivery(monitor.monitor_id)))


def monitors_out(monitors: Sequence[MonitorModel]) -> list[MonitorOut]:
    """A page of monitors: their newest deliveries read side by side."""
    newest = run_all(newest_delivery, [monitor.monitor_id for monitor in monitors])
    return [MonitorOut(**_monitor_fields(monitor, last)) for monitor, last in zip(monitors, newest, strict=True)]


def monitor_detail(monitor: MonitorModel, marks: Sequence[SequenceMark]) -> MonitorDetail:
    """The monitor with, per chain, its matched_through_block and last_sequence."""
    return MonitorDetail(
        **_monitor_fields(monitor, newest_delivery(monitor.monitor_id)),
        chains=[ChainSequenceOut(**mark._asdict()) for mark in marks],
    )


def monitor_with_secret(monitor: MonitorModel, secret: str) -> MonitorWithSecret:
    """A monitor just created, with `secret` in the clear: the stored one is sealed (store/secret_box.py)."""
    return MonitorWithSecret(**_monitor_fields(monitor, None), secret=secret)


def monitor_with_rotated_secret(monitor: MonitorModel, secret: str) -> MonitorWithRotatedSecret:
    """The monitor after a rotation: its new secret in the clear, and until when the replaced one signs."""
    return MonitorWithRotatedSecret(
        **_monitor_fields(monitor, newest_delivery(monitor.monitor_id)),
        secret=secret,
        previous_secret_expires_at=int(monitor.previous_secret_expires_at),
    )


def last_delivery_out(record: DeliveryModel | None) -> LastDeliveryOut | None:
    if record is None:
        return None
    return LastDeliveryOut(
        id=record.delivery_id,
        status="pending" if record.status == "retrying" else record.status,
        created_at=int(record.created_at) // 1000,  # stored in milliseconds
        last_status_code=None if record.last_status_code is None else int(record.last_status_code),
    )


def _monitor_fields(monitor: MonitorModel, last: DeliveryModel | None) -> dict[str, Any]:
    return {
        "id": monitor.monitor_id,
        "name": monitor.name,
        "chain_ids": [int(chain_id) for chain_id in monitor.chain_ids],
        "webhook_url": monitor.webhook_url,
        "filters": {
            "address_scope": address_scope(monitor),
            "kinds": list(monitor.kinds),
            "contracts": list(monitor.contracts or []),
            "event_signatures": list(monitor.event_signatures or []),
        },
        "address_count": int(monitor.address_count or 0),
        "condition": monitor.condition,
        "confirmations": monitor.finality
        or (None if monitor.confirmations is None else int(monitor.confirmations)),
        "active": bool(monitor.active),
        "created_at": int(monitor.created_at),
        "updated_at": int(monitor.updated_at),
        "backfill": backfill_out(monitor.backfill) if monitor.backfill is not None else None,
        "reconcile": reconcile_progress(monitor.reconcile) if monitor.reconcile is not None else None,
        "health": health_out(monitor),
        "last_delivery": last_delivery_out(last),
    }


def health_out(monitor: MonitorModel) -> EndpointHealthOut:
    def seconds(value: float | None) -> int | None:
        return None if value is None else int(value)

    degraded = is_degraded(monitor)
    return EndpointHealthOut(
        status="degraded" if degraded else "healthy",
        consecutive_failures=int(monitor.consecutive_failures or 0),
        failing_since=seconds(monitor.failing_since),
        last_failure=monitor.last_failure,
        next_probe_at=seconds(monitor.probe_at) if degraded else None,
    )


def backfill_out(job: BackfillAttribute) -> BackfillOut:
    return BackfillOut(
        id=job.job_id,
        chain_id=int(job.chain_id),
        from_block=int(job.from_block),
        to_block=int(job.to_block),
        next_block=int(job.next_block),
        status=job.status,
        error=job.error,
        created_at=int(job.created_at),
        updated_at=int(job.updated_at),
    )


def reconcile_progress(job: ReconcileAttribute) -> ReconcileProgress:
    return ReconcileProgress(**_reconcile_fields(job))


def reconcile_out(job: ReconcileAttribute) -> ReconcileOut:
    return ReconcileOut(**_reconcile_fields(job), missing=list(job.missing or []), extra=list(job.extra or []))


def _reconcile_fields(job: ReconcileAttribute) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "chain_id": int(job.chain_id),
        "from_block": int(job.from_block),
        "to_block": int(job.to_block),
        "heal": bool(job.heal),
        "next_block": int(job.next_block),
        "checked_through": int(job.checked_block),
        "status": job.status,
        "error": job.error,
        "missing_count": int(job.missing_count or 0),
        "extra_count": int(job.extra_count or 0),
        "created_at": int(job.created_at),
        "updated_at": int(job.updated_at),
    }
