"""The jobs on monitors that ingest runs by reading past blocks (backfill, reconcile): which of them
this chain's thread runs now, each with the chain's ingest; the ones that cannot run are retired."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from blockhook.ingest.service import ChainIngest
from blockhook.store import jobs
from blockhook.store.jobs import RUNNING
from blockhook.store.models import MonitorModel
from blockhook.store.monitors import MonitorNotFound, get_monitor


def runnable(
    kind: str,
    by_chain: Mapping[int, ChainIngest],
    chain_id: int | None,
    fail: Callable[[MonitorModel, str, str], None],
    finished: Callable[[Any], bool] = lambda job: False,
) -> Iterator[tuple[MonitorModel, Any, ChainIngest]]:
    """(monitor, job, ingest) of each active job of `kind` (of `chain_id` alone when given: each
    chain's thread runs its own, with its own node). A job whose monitor is gone, that is no longer
    running or `finished`, or whose chain is not served here (failed with `fail`) is retired."""
    for tenant_id, monitor_id in jobs.active(kind):
        try:
            monitor = get_monitor(tenant_id, monitor_id)
        except MonitorNotFound:
            jobs.retire(kind, tenant_id, monitor_id)  # deleted since: nothing to run it for
            continue
        job = getattr(monitor, kind)
        if job is None or job.status not in RUNNING or finished(job):
            jobs.retire(kind, tenant_id, monitor_id)
            continue
        ingest = by_chain.get(int(job.chain_id))
        if ingest is None:
            fail(monitor, job.job_id, f"chain {job.chain_id} is not served here")
            jobs.retire(kind, tenant_id, monitor_id)
            continue
        if chain_id is None or int(job.chain_id) == chain_id:
            yield monitor, job, ingest
