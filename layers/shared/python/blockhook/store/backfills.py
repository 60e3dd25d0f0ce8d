"""Backfill jobs: one per monitor at a time, kept on the monitor item so its progress shows
on the monitor; the set of monitors with a job to run is one item in the state table."""

from __future__ import annotations

import secrets
import time

from blockhook.store import jobs
from blockhook.store.chain_state import Checkpoint, NodeHeads
from blockhook.store.jobs import RUNNING
from blockhook.store.models import BackfillAttribute, MonitorModel


def backfill_reach(checkpoint: Checkpoint, confirmations: int | str, node: NodeHeads | None = None) -> int | None:
    """The last block a backfill for a monitor with these confirmations may reach: the one that
    many blocks already stand on at the chain's head as ingest last saw it, or for "safe" /
    "finalized" the node's block of that tag as ingest last saw it. A block above could still be
    replaced by a reorg, and a backfill delivery is never taken back. None while that is unknown."""
    if isinstance(confirmations, str):
        return None if node is None else getattr(node, confirmations)
    if checkpoint.head is None:
        return None
    return checkpoint.head - confirmations


class BackfillConflict(RuntimeError):
    """The monitor already has a backfill queued or running."""


def start_backfill(monitor: MonitorModel, chain_id: int, from_block: int, to_block: int) -> BackfillAttribute:
    if monitor.backfill is not None and monitor.backfill.status in RUNNING:
        raise BackfillConflict(f"backfill {monitor.backfill.job_id} is still {monitor.backfill.status}")
    now = int(time.time())
    job = BackfillAttribute(
        job_id="bf_" + secrets.token_hex(8),
        chain_id=chain_id,
        from_block=from_block,
        to_block=to_block,
        next_block=from_block,
        status="queued",
        created_at=now,
        updated_at=now,
    )
    jobs.place(monitor, "backfill", job, BackfillConflict)
    return job


def active_backfills() -> list[tuple[str, str]]:
    """(tenant_id, monitor_id) of every monitor with a backfill to run."""
    return jobs.active("backfill")


def advance_backfill(monitor: MonitorModel, job_id: str, expected_next: int, next_block: int) -> str:
    """Record that blocks up to next_block - 1 were published; returns the job's new status."""
    status = "done" if next_block > int(monitor.backfill.to_block) else "running"
    monitor.update(
        actions=[
            MonitorModel.backfill.next_block.set(next_block),
            MonitorModel.backfill.status.set(status),
            MonitorModel.backfill.updated_at.set(int(time.time())),
        ],
        condition=(MonitorModel.backfill.job_id == job_id) & (MonitorModel.backfill.next_block == expected_next),
    )
    return status


def fail_backfill(monitor: MonitorModel, job_id: str, error: str) -> None:
    monitor.update(
        actions=[
            MonitorModel.backfill.status.set("failed"),
            MonitorModel.backfill.error.set(error[:500]),
            MonitorModel.backfill.updated_at.set(int(time.time())),
        ],
        condition=MonitorModel.backfill.job_id == job_id,
    )


def retire(tenant_id: str, monitor_id: str) -> None:
    jobs.retire("backfill", tenant_id, monitor_id)
