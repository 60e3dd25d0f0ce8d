"""Reconcile jobs: one per monitor at a time, kept on the monitor item like a backfill, so its
progress and findings show on the monitor; the set of monitors with one to publish is one item in
the state table.

Two writers move a job, each its own fields: ingest publishes its blocks (`next_block`), and
the matcher compares them as they come (`checked_block`/`checked_chunk`, the findings, and the
status: queued, running once it compared a block, done once it compared the last)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

from pynamodb.exceptions import UpdateError

from blockhook.store import jobs
from blockhook.store.jobs import RUNNING
from blockhook.store.models import MonitorModel, ReconcileAttribute

MAX_REPORTED_IDS = 1000  # of each list kept on the job; the counts say how many in all


class ReconcileConflict(RuntimeError):
    """The monitor already has a reconcile queued or running."""


def start_reconcile(
    monitor: MonitorModel, chain_id: int, from_block: int, to_block: int, heal: bool
) -> ReconcileAttribute:
    if monitor.reconcile is not None and monitor.reconcile.status in RUNNING:
        raise ReconcileConflict(f"reconcile {monitor.reconcile.job_id} is still {monitor.reconcile.status}")
    now = int(time.time())
    job = ReconcileAttribute(
        job_id="rc_" + secrets.token_hex(8),
        chain_id=chain_id,
        from_block=from_block,
        to_block=to_block,
        heal=heal,
        next_block=from_block,
        checked_block=from_block - 1,
        checked_chunk=0,
        status="queued",
        missing=[],
        extra=[],
        missing_count=0,
        extra_count=0,
        created_at=now,
        updated_at=now,
    )
    jobs.place(monitor, "reconcile", job, ReconcileConflict)
    return job


def active_reconciles() -> list[tuple[str, str]]:
    """(tenant_id, monitor_id) of every monitor with a reconcile to publish."""
    return jobs.active("reconcile")


def advance_published(monitor: MonitorModel, job_id: str, expected_next: int, next_block: int) -> None:
    """Record that blocks up to next_block - 1 were published for the job (ingest). The status is
    the matcher's to move, as it compares them: it may have compared these already."""
    job = MonitorModel.reconcile
    monitor.update(
        actions=[job.next_block.set(next_block), job.updated_at.set(int(time.time()))],
        condition=(job.job_id == job_id) & (job.next_block == expected_next),
    )


def record_checked(
    tenant_id: str,
    monitor_id: str,
    job_id: str,
    number: int,
    chunk: int,
    last: bool,
    missing: Sequence[str],
    extra: Sequence[str],
    reported: tuple[int, int],
) -> bool:
    """Record what the matcher found in chunk `chunk` of block `number` (`last`: the job's last
    chunk), once: False when that chunk was recorded already (a repeat of its message) or the job
    is another one now. `reported`: how many ids of each list the job held when read (the matcher
    alone writes them, in order), so that the lists stop at MAX_REPORTED_IDS."""
    job = MonitorModel.reconcile
    held_missing, held_extra = reported
    actions = [
        job.checked_block.set(number),
        job.checked_chunk.set(chunk),
        job.missing_count.add(len(missing)),
        job.extra_count.add(len(extra)),
        job.updated_at.set(int(time.time())),
    ]
    keep_missing = list(missing)[: max(0, MAX_REPORTED_IDS - held_missing)]
    keep_extra = list(extra)[: max(0, MAX_REPORTED_IDS - held_extra)]
    if keep_missing:
        actions.append(job.missing.set(job.missing.append(keep_missing)))
    if keep_extra:
        actions.append(job.extra.set(job.extra.append(keep_extra)))
    actions.append(job.status.set("done" if last else "running"))
    # In order, each chunk once.
    not_yet = (job.checked_block < number) | ((job.checked_block == number) & (job.checked_chunk < chunk))
    condition = (job.job_id == job_id) & job.status.is_in(*RUNNING) & not_yet
    try:
        MonitorModel(tenant_id, monitor_id).update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def fail_reconcile(monitor: MonitorModel, job_id: str, error: str) -> None:
    monitor.update(
        actions=[
            MonitorModel.reconcile.status.set("failed"),
            MonitorModel.reconcile.error.set(error[:500]),
            MonitorModel.reconcile.updated_at.set(int(time.time())),
        ],
        condition=MonitorModel.reconcile.job_id == job_id,
    )


def fail_reconcile_of(tenant_id: str, monitor_id: str, job_id: str, error: str) -> None:
    """fail_reconcile by the monitor's key; nothing when the monitor or the job is gone."""
    try:
        fail_reconcile(MonitorModel(tenant_id, monitor_id), job_id, error)
    except UpdateError as failed:
        if failed.cause_response_code != "ConditionalCheckFailedException":
            raise


def retire(tenant_id: str, monitor_id: str) -> None:
    jobs.retire("reconcile", tenant_id, monitor_id)
