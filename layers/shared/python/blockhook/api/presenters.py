"""Stored monitors as the API answers them (CONTRACT section 2): the secret only where asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from blockhook.api.models import (
    BackfillOut,
    ChainSequenceOut,
    EndpointHealthOut,
    MonitorDetail,
    MonitorOut,
    MonitorWithRotatedSecret,
    MonitorWithSecret,
    ReconcileOut,
    ReconcileProgress,
)
from blockhook.store.deliveries import SequenceMark
from blockhook.store.endpoint_health import is_degraded
from blockhook.store.models import BackfillAttribute, MonitorModel, ReconcileAttribute
from blockhook.store.monitors import address_scope


def monitor_out(monitor: MonitorModel) -> MonitorOut:
    return MonitorOut(**_monitor_fields(monitor))


def monitor_detail(monitor: MonitorModel, marks: Sequence[SequenceMark]) -> MonitorDetail:
    """The monitor with, per chain, its matched_through_block and last_sequence."""
    return MonitorDetail(**_monitor_fields(monitor), chains=[ChainSequenceOut(**mark._asdict()) for mark in marks])


def monitor_with_secret(monitor: MonitorModel, secret: str) -> MonitorWithSecret:
    """`secret` in the clear: the stored one is sealed (store/secret_box.py)."""
    return MonitorWithSecret(**_monitor_fields(monitor), secret=secret)


def monitor_with_rotated_secret(monitor: MonitorModel, secret: str) -> MonitorWithRotatedSecret:
    """The monitor after a rotation: its new secret in the clear, and until when the replaced one signs."""
    return MonitorWithRotatedSecret(
        **_monitor_fields(monitor), secret=secret, previous_secret_expires_at=int(monitor.previous_secret_expires_at)
    )


def _monitor_fields(monitor: MonitorModel) -> dict[str, Any]:
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
