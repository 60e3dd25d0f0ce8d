"""Publish past blocks for one monitor's backfill, through the same Kafka path as live blocks.

The messages carry the monitor as their target, so the matcher matches them for that
monitor alone and live monitors are not disturbed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from blockhook.ingest.jobs import runnable
from blockhook.ingest.reconcile import ReconcileRunner
from blockhook.ingest.service import ChainIngest, OrderedFetch
from blockhook.store import backfills
from blockhook.streaming.codec import BackfillTarget

logger = logging.getLogger(__name__)


class BackfillRunner:
    def __init__(self, ingests: Sequence[ChainIngest]) -> None:
        self.by_chain = {ingest.chain_id: ingest for ingest in ingests}
        # Reconciles read past blocks the same way, in the same turn of each chain's thread.
        self.reconciles = ReconcileRunner(self.by_chain)
        # Each backfill's fetch, kept open from step to step (by job id): its requests stay in flight
        # while the chain's live blocks are polled, so the node never waits for the next step to start.
        self._fetches: dict[str, _OpenFetch] = {}
        self._lock = threading.Lock()  # each chain's thread steps its own jobs; the dict is shared

    def step(self, chain_id: int | None = None) -> int:
        """Publish one batch of every active backfill and reconcile (of `chain_id` alone when given:
        each chain's thread runs its own, with its own node); returns how many blocks it published."""
        return self._backfills(chain_id) + self.reconciles.step(chain_id)

    def close(self, chain_id: int | None = None) -> None:
        """End the fetches kept open (of `chain_id` alone when given), waiting for their requests in
        flight: at the end of an invocation, so that none outlives it. The next step opens them again."""
        self._end_where(lambda job_id, fetch: chain_id in (None, fetch.chain_id))

    def _backfills(self, chain_id: int | None) -> int:
        published, stepped = 0, set()
        for monitor, job, ingest in runnable("backfill", self.by_chain, chain_id, backfills.fail_backfill):
            stepped.add(job.job_id)
            published += self._backfill(monitor, job, ingest)
        # A job no longer runnable (done, failed, cancelled, its monitor deleted) ends its fetch.
        self._end_where(lambda job_id, fetch: job_id not in stepped and chain_id in (None, fetch.chain_id))
        return published

    def _backfill(self, monitor, job, ingest: ChainIngest) -> int:
        """Batches of one backfill through the chain's request window, published for one poll interval
        (the chain's live blocks wait about that); the requests then in flight run on and are handed out
        at the next step. Each batch is published and the job moved past it before the next."""
        published = 0
        deadline = ingest.monotonic() + ingest.config.poll_interval
        start = int(job.next_block)
        fetch = self._fetch(job, ingest, start)
        try:
            while True:
                blocks = fetch.fetcher.take(start)
                if not blocks:
                    break  # the node has not answered with them yet: try again next step
                ingest.publish(blocks, BackfillTarget(monitor.monitor_id, job.job_id))
                status = backfills.advance_backfill(monitor, job.job_id, start, blocks[-1].number + 1)
                published += len(blocks)
                start = fetch.next_block = blocks[-1].number + 1
                if status == "done":
                    self._end(job.job_id)
                    backfills.retire(monitor.tenant_id, monitor.monitor_id)
                    logger.info("backfill done", extra={"monitor_id": monitor.monitor_id, "job_id": job.job_id})
                    break
                if ingest.monotonic() >= deadline:
                    break
        except BaseException:
            self._end(job.job_id)  # what was fetched ahead is not trusted: the next step starts afresh
            raise
        return published

    def _fetch(self, job, ingest: ChainIngest, start: int) -> _OpenFetch:
        """The job's open fetch when it goes on from `start`; else a new one (the first step, or the job
        was moved meanwhile, by another invocation)."""
        with self._lock:
            fetch = self._fetches.get(job.job_id)
        if fetch is not None and fetch.next_block == start:
            return fetch
        self._end(job.job_id)
        fetch = _OpenFetch(ingest.chain_id, ingest.fetch(int(job.to_block)), start)
        with self._lock:
            self._fetches[job.job_id] = fetch
        return fetch

    def _end(self, job_id: str) -> None:
        self._end_where(lambda ending, fetch: ending == job_id)

    def _end_where(self, ends: Callable[[str, _OpenFetch], bool]) -> None:
        """Close the open fetches `ends(job_id, fetch)` picks (outside the lock: closing waits for their
        requests in flight)."""
        with self._lock:
            picked = [job_id for job_id, fetch in self._fetches.items() if ends(job_id, fetch)]
            fetches = [self._fetches.pop(job_id) for job_id in picked]
        for fetch in fetches:
            fetch.fetcher.close()


@dataclass
class _OpenFetch:
    chain_id: int
    fetcher: OrderedFetch
    next_block: int  # the first block its next batch begins at
