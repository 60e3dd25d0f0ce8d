"""Jobs kept on the monitor item (a backfill, a reconcile): one of each kind per monitor at a time,
so its progress shows on the monitor, and the monitors with one to run listed in one state item
per kind (`<kind>s#active`), which ingest reads once a poll instead of scanning monitors."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from blockhook.store.models import ActiveBackfillsModel, MonitorModel

RUNNING = frozenset({"queued", "running"})  # a job's statuses while it has blocks to go


def place(monitor: MonitorModel, kind: str, job: Any, conflict: type[Exception]) -> None:
    """Put `job` in the monitor's `kind` attribute (backfill, reconcile) and list the monitor as
    having one to run. Guarded on the job the caller read: of two concurrent starts, one raises
    `conflict`."""
    attribute = getattr(MonitorModel, kind)
    current = getattr(monitor, kind)
    previous = current.job_id if current is not None else None
    condition = MonitorModel.monitor_id.exists() & (
        attribute.does_not_exist() if previous is None else attribute.job_id == previous
    )
    try:
        monitor.update(actions=[attribute.set(job)], condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise conflict(f"another {kind} started at the same time") from None
        raise
    ActiveBackfillsModel(_active_key(kind)).update(
        actions=[ActiveBackfillsModel.monitors.add({_entry(monitor.tenant_id, monitor.monitor_id)})]
    )


def active(kind: str) -> list[tuple[str, str]]:
    """(tenant_id, monitor_id) of every monitor with a job of `kind` to run."""
    try:
        item = ActiveBackfillsModel.get(_active_key(kind), consistent_read=True)
    except ActiveBackfillsModel.DoesNotExist:
        return []
    return sorted(tuple(entry.split("|", 1)) for entry in item.monitors or ())  # type: ignore[misc]


def retire(kind: str, tenant_id: str, monitor_id: str) -> None:
    """The monitor has no job of `kind` to run any more."""
    ActiveBackfillsModel(_active_key(kind)).update(
        actions=[ActiveBackfillsModel.monitors.delete({_entry(tenant_id, monitor_id)})]
    )


def _active_key(kind: str) -> str:
    return f"{kind}s#active"


def _entry(tenant_id: str, monitor_id: str) -> str:
    return f"{tenant_id}|{monitor_id}"
