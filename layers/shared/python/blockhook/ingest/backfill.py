"""Publish past blocks for one monitor's backfill, through the same Kafka path as live blocks.

The messages carry the monitor as their target, so the matcher matches them for that
monitor alone and live monitors are not disturbed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from blockhook.ingest.reconcile import ReconcileRunner
from blockhook.ingest.service import ChainIngest
from blockhook.store import backfills
from blockhook.store.monitors import MonitorNotFound, get_monitor
from blockhook.streaming.codec import BackfillTarget

logger = logging.getLogger(__name__)


class BackfillRunner:
    def __init__(self, ingests: Sequence[ChainIngest]) -> None:
        self.by_chain = {ingest.chain_id: ingest for ingest in ingests}
        # Reconciles read past blocks the same way, in the same turn of each chain's thread.
        self.reconciles = ReconcileRunner(self.by_chain)

    def step(self, chain_id: int | None = None) -> int:
        """Publish one batch of every active backfill and reconcile (of `chain_id` alone when given:
        each chain's thread runs its own, with its own node); returns how many blocks it published."""
        return self._backfills(chain_id) + self.reconciles.step(chain_id)

    def _backfills(self, chain_id: int | None) -> int:
        published = 0
        for tenant_id, monitor_id in backfills.active_backfills():
            try:
                monitor = get_monitor(tenant_id, monitor_id)
            except MonitorNotFound:
                backfills.retire(tenant_id, monitor_id)  # deleted since: nothing to send it
                continue
            job = monitor.backfill
            if job is None or job.status not in backfills.RUNNING:
                backfills.retire(tenant_id, monitor_id)
                continue
            ingest = self.by_chain.get(int(job.chain_id))
            if chain_id is not None and int(job.chain_id) != chain_id and ingest is not None:
                continue  # another chain's thread runs it
            if ingest is None:
                backfills.fail_backfill(monitor, job.job_id, f"chain {job.chain_id} is not served here")
                backfills.retire(tenant_id, monitor_id)
                continue
            start = int(job.next_block)
            end = min(int(job.to_block), start + ingest.config.max_blocks_per_batch - 1)
            blocks = ingest.read(start, end)
            if not blocks:
                continue  # the node has not answered with them yet: try again next step
            ingest.publish(blocks, BackfillTarget(monitor_id, job.job_id))
            status = backfills.advance_backfill(monitor, job.job_id, start, blocks[-1].number + 1)
            published += len(blocks)
            if status == "done":
                backfills.retire(tenant_id, monitor_id)
                logger.info("backfill done", extra={"monitor_id": monitor_id, "job_id": job.job_id})
        return published
