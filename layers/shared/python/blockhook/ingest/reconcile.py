"""Read past blocks again for one monitor's reconcile and publish them, through the same Kafka path
as live blocks, for the matcher to compare with that monitor's deliveries.

A block is published only once the live blocks that settle its matches are on the topic before
it: N confirmations after it, ingested (the matcher then has released or dropped its matches by
the time it compares). The chain's partition keeps that order."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from blockhook.ingest.jobs import runnable
from blockhook.ingest.service import ChainIngest
from blockhook.store import reconciles
from blockhook.store.chain_state import load_checkpoint
from blockhook.store.models import MonitorModel
from blockhook.streaming.codec import ReconcileTarget

logger = logging.getLogger(__name__)


class ReconcileRunner:
    def __init__(self, by_chain: Mapping[int, ChainIngest]) -> None:
        self.by_chain = by_chain

    def step(self, chain_id: int | None = None) -> int:
        """Publish one batch of every active reconcile (of `chain_id` alone when given); returns how
        many blocks it published."""
        published = 0
        work = runnable(
            "reconcile", self.by_chain, chain_id, reconciles.fail_reconcile,
            finished=lambda job: int(job.next_block) > int(job.to_block),
        )  # fmt: skip
        for monitor, job, ingest in work:
            start = int(job.next_block)
            end = min(int(job.to_block), start + ingest.config.max_blocks_per_batch - 1, self._settled(monitor, ingest))
            if end < start:
                continue  # its matches are not settled on the topic yet: next step
            blocks = ingest.read(start, end)
            if not blocks:
                continue  # the node has not answered with them yet: try again next step
            ingest.publish(blocks, ReconcileTarget(monitor.monitor_id, job.job_id))
            reconciles.advance_published(monitor, job.job_id, start, blocks[-1].number + 1)
            published += len(blocks)
            if blocks[-1].number >= int(job.to_block):
                reconciles.retire(monitor.tenant_id, monitor.monitor_id)
                logger.info("reconcile published", extra={"monitor_id": monitor.monitor_id, "job_id": job.job_id})
        return published

    @staticmethod
    def _settled(monitor: MonitorModel, ingest: ChainIngest) -> int:
        """The last block whose matches for this monitor the live blocks already on the topic settle:
        the checkpoint less the monitor's confirmations. A monitor waiting for "safe" / "finalized"
        was refused blocks past that tag's head when the job started."""
        last = load_checkpoint(ingest.chain_id).number
        if last is None:
            return -1
        if monitor.finality:
            return last
        confirmations = (
            int(monitor.confirmations) if monitor.confirmations is not None else ingest.config.confirmations
        )
        return last - confirmations
