"""Publish past blocks for one monitor's backfill, through the same Kafka path as live blocks.

The messages carry the monitor as their target, so the matcher matches them for that
monitor alone and live monitors are not disturbed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from blockhook.ingest.jobs import runnable
from blockhook.ingest.reconcile import ReconcileRunner
from blockhook.ingest.service import ChainIngest
from blockhook.store import backfills
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
        for monitor, job, ingest in runnable("backfill", self.by_chain, chain_id, backfills.fail_backfill):
            published += self._backfill(monitor, job, ingest)
        return published

    @staticmethod
    def _backfill(monitor, job, ingest: ChainIngest) -> int:
        """Batches of one backfill, through the chain's request window, sent for one poll interval (the
        chain's live blocks wait about that, plus the batches then in flight, which are published too
        rather than fetched again). Each batch is published and the job moved past it before the next."""
        published = 0
        deadline = ingest.monotonic() + ingest.config.poll_interval
        start = int(job.next_block)
        with ingest.fetch(int(job.to_block)) as fetcher:
            while True:
                blocks = fetcher.take(start)
                if not blocks:
                    break  # the node has not answered with them yet: try again next step
                ingest.publish(blocks, BackfillTarget(monitor.monitor_id, job.job_id))
                status = backfills.advance_backfill(monitor, job.job_id, start, blocks[-1].number + 1)
                published += len(blocks)
                if status == "done":
                    backfills.retire(monitor.tenant_id, monitor.monitor_id)
                    logger.info("backfill done", extra={"monitor_id": monitor.monitor_id, "job_id": job.job_id})
                    break
                start = blocks[-1].number + 1
                if ingest.monotonic() >= deadline:
                    fetcher.finish()
        return published
