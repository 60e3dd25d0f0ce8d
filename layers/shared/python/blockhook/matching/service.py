"""Turn a batch of `blocks` messages into recorded, queued deliveries.

Per block: match, keep each monitor's events of the block (store/matches.py), send those
of monitors with 0 confirmations at once, then release the pending matches of this chain
that the block makes deep enough. Per revert: drop the block's pending matches and take
back the sent ones with a `removed: true` delivery of the same events. A block that comes back
after its revert (a chain that flips A, B, A) is kept again in a new generation of its matches:
pending again, or sent at once with 0 confirmations, in new deliveries (store/matches.py).

Idempotent on re-delivery of the same records: matches are written once per
(block, monitor, chunk) and delivery ids are derived from (monitor, block hash, removed,
chunk, generation), so a repeat records nothing new.

Each delivery is recorded with its origin (delivery/origin.py): a match keeps what found it (a live
block, or the catch-up of an added address) and hands it to its deliveries, but a revert's
`removed: true` delivery is `removed`; a backfill's and a reconcile's deliveries are theirs. Records given as `TopicRecord`s carry their
place on the topic, which tells a repeat from a block that came back even when the repeat spans
a flip; plain values are told apart by the match's status alone.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from blockhook.delivery import origin as origins
from blockhook.delivery.service import DeliveryService
from blockhook.matching import reconcile
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import Match, MonitorView, accepts, match_events
from blockhook.store import matches as match_store
from blockhook.store import reconciles
from blockhook.store.blobs import configured_blobs
from blockhook.store.deliveries import deliveries_of_block, delivery_payload
from blockhook.store.matches import Position
from blockhook.store.models import MatchModel, ReconcileAttribute
from blockhook.store.monitors import MonitorNotFound, get_monitor
from blockhook.streaming.codec import (
    Base64Value,
    BlockHeader,
    BlockMessage,
    MalformedMessage,
    ReconcileTarget,
    RevertMessage,
    correlation_id,
    decode,
    is_stand_in,
    resolve_event,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicRecord:
    """A record's value with its place on the topic."""

    value: bytes | str | Base64Value
    partition: str  # "<topic>-<partition>"
    offset: int


@dataclass
class BatchResult:
    blocks: int = 0
    reverts: int = 0
    events: int = 0
    matches: int = 0
    deliveries: int = 0
    removed: int = 0
    malformed: int = 0


class MatchService:
    def __init__(
        self,
        index: WatchIndex,
        deliveries: DeliveryService,
        default_confirmations: Callable[[int], int] = lambda chain_id: 0,
        fetch_claim: Callable[[str], bytes] | None = None,
    ) -> None:
        self.index = index
        self.deliveries = deliveries
        self.default_confirmations = default_confirmations
        # Reads the object of a claim check (streaming/codec.py `stand_in`): the configured S3 bucket.
        self.fetch_claim = fetch_claim or (lambda key: configured_blobs().get(key))
        # The live blocks of the last batch, matched with the view of that moment: if the
        # view changes, they are matched again (see _catch_up).
        self._recent: list[_LiveBlock] = []
        # The safe / finalized heads each chain's waiting matches were last released by.
        self._final_heads: dict[tuple[int, str], int] = {}

    def process(self, values: Iterable[bytes | str | Base64Value | TopicRecord]) -> BatchResult:
        result = BatchResult()
        caught_up: set[int] = set()
        if self.index.refresh():  # one version read per batch
            self._catch_up(self._recent, result)
            caught_up = {block.header.chain_id for block in self._recent}
        progress: dict[int, int] = {}
        live: list[_LiveBlock] = []
        for record in values:
            if isinstance(record, TopicRecord):
                value, position = record.value, Position(record.partition, record.offset)
            else:
                value, position = record, None
            try:
                message = decode(value, lazy=True)
                # A version 2 block's events are read while it is matched: a bad one is found there,
                # before anything is recorded.
                is_live = isinstance(message, BlockMessage) and message.backfill is None
                matches = self._match(message) if is_live else []
            except MalformedMessage as error:
                # Not ours to fix and retrying cannot help: count it, log it, go on.
                result.malformed += 1
                logger.error("malformed message on the blocks topic", extra={"error": str(error)})
                continue
            if isinstance(message, RevertMessage):
                self._process_revert(message, result, position)
                progress[message.chain_id] = message.number - 1
            elif isinstance(message.backfill, ReconcileTarget):
                self._process_reconcile(message, result)  # a past block read again: compared, not sent
            elif message.backfill is not None:
                self._process_backfill(message, result)  # a past block: no live progress, no release
            else:
                self._process_block(message, matches, result, position)
                live.append(_LiveBlock(message.header, value, position))
                progress[message.header.chain_id] = message.header.number
        if live:
            self._recent = live
            # A change made while this batch ran missed these blocks: match them again now.
            if self.index.refresh():
                self._catch_up(live, result)
        for chain_id, number in progress.items():
            match_store.record_progress(chain_id, number, self.index.version, self._released_by(chain_id))
        for chain_id in caught_up - progress.keys():
            # No block of the chain in this batch, but its last ones were caught up with the new view.
            match_store.record_progress_version(chain_id, self.index.version)
        _settle_garbage()
        return result

    def _process_block(
        self, message: BlockMessage, matches: list[Match], result: BatchResult, position: Position | None = None
    ) -> None:
        result.blocks += 1
        result.events += len(message.events)
        result.matches += len(matches)
        chunk = message.chunk if message.chunks > 1 else None
        for monitor_id, group in _by_monitor(matches).items():
            self._keep(message, monitor_id, group, result, chunk=chunk, position=position)
        self._release(message.header.chain_id, message.header.number, result, message.finality)

    def _match(self, message: BlockMessage) -> list[Match]:
        index = self.index
        # A version 2 block read lazily: only the events a monitor may match are read at all.
        events = message.events if message.columns is None else index.events_to_match(message.columns)
        if index.all_address_monitors:
            candidates = index.candidates(events)
        else:
            # Without a monitor of every address, only an event with a watched party can match: the
            # others (nearly all of a block) are not looked at again.
            candidates, events = index.candidates_and_events(events)
        if message.has_stand_ins:
            events = self._resolve_stand_ins(events, index.monitors.values())
        watchers = index.watchers(candidates) if candidates else {}
        return match_events(events, index.monitors, watchers, index.all_address_monitors)

    def _resolve_stand_ins(self, events: list[dict], monitors: Iterable[MonitorView]) -> list[dict]:
        """The events, each stand-in that a monitor's filters accept replaced by the whole event: a
        condition, `args` and the delivery read fields the stand-in leaves out. One no monitor can
        match is not read."""
        monitors = list(monitors)
        return [
            resolve_event(event, self.fetch_claim)
            if is_stand_in(event) and any(accepts(monitor, event) for monitor in monitors)
            else event
            for event in events
        ]

    def _keep(
        self,
        message: BlockMessage,
        monitor_id: str,
        group: list[Match],
        result: BatchResult,
        chunk: int | None = None,
        part: str | None = None,
        position: Position | None = None,
        origin: str = origins.LIVE,
    ) -> None:
        """Record one monitor's matches of a block; send them now if it needs no confirmations.

        A match of this block taken back by a revert is armed again in its next generation: the
        block is back (unless the record is one the match has seen: a repeat)."""
        header = message.header
        monitor = self.index.monitors[monitor_id]
        confirmations = (
            monitor.confirmations if monitor.confirmations is not None else self.default_confirmations(header.chain_id)
        )
        events = [match.delivered_event() for match in group]
        item, created = match_store.record_match(
            tenant_id=monitor.tenant_id,
            monitor_id=monitor_id,
            chain_id=header.chain_id,
            block=header.as_payload_block(),
            chunk=chunk,
            events=events,
            confirmations=confirmations,
            part=part,
            position=position,
            finality=message.finality,
            origin=origin,
        )
        waiting = match_store.waits(confirmations, header.number, message.finality)
        back = None if created or match_store.is_repeat(item, position) else match_store.on_block(item.status, waiting)
        if back is not None and not match_store.rearm(
            item, status=back, events=events, confirmations=confirmations, position=position
        ):
            item = match_store.get_match(item)  # moved meanwhile: act on what it is now
        if item.status == "sent":
            # Sent again on a repeat too: delivery ids make that a no-op, and it covers a
            # crash between recording the match and queueing its delivery.
            result.deliveries += self._send(item, removed=False)

    def _catch_up(self, blocks: list[_LiveBlock], result: BatchResult) -> None:
        """Match recent blocks again with a view that changed since they were matched, and keep
        what a monitor was not sent yet (an address added just before, say) as a part of its own.

        An address added through the API is matched from the head of that moment: the head block
        may already have been matched without it, and it is in the last batch when the matcher is
        caught up (when it lags, the head is still ahead of it and is matched with the new view)."""
        version, previous = self.index.version, self.index.previous_version
        if previous is None or not blocks:
            return
        changes = self.index.changes
        if changes is None:
            start = None  # the changes were not readable: catch up every recent block, to miss nothing
        else:
            start = {}
            for change in changes.values():
                for chain_id, head in change.heads.items():
                    start[chain_id] = min(head, start.get(chain_id, head))
            if not start:
                return  # no address was added: nothing new to find in blocks already matched
        for block in blocks:
            header = block.header
            if start is not None and header.number < start.get(header.chain_id, header.number + 1):
                continue
            message = decode(block.value, lazy=True)
            try:
                found = self._match(message)
            except MalformedMessage as error:
                # An event of it no monitor could match before, malformed: matched by nobody now either.
                logger.error("malformed message on the blocks topic", extra={"error": str(error)})
                continue
            # Taken-back matches count as known too: their block was reverted, or came back and
            # was kept again with the view of that moment.
            known: dict[str, set[str]] = {}
            for item in match_store.matches_of_block(header.chain_id, header.hash):
                known.setdefault(item.monitor_id, set()).update(e["id"] for e in match_store.decode_events(item))
            for monitor_id, group in _by_monitor(found).items():
                missed = [match for match in group if match.event["id"] not in known.get(monitor_id, ())]
                if missed:
                    result.matches += len(missed)
                    self._keep(
                        message,
                        monitor_id,
                        missed,
                        result,
                        part=f"catchup{version}-{message.chunk}",
                        position=block.position,
                        origin=origins.CATCH_UP,
                    )

    def _process_backfill(self, message: BlockMessage, result: BatchResult) -> None:
        """A past block replayed for one monitor: match it for that monitor alone and send at once
        (backfilled blocks are older than the checkpoint, so deep enough)."""
        result.blocks += 1
        result.events += len(message.events)
        target = message.backfill
        monitor = self.index.monitors.get(target.monitor_id)
        if monitor is None:
            return  # deleted since the backfill was asked for
        matches = self._match_for(monitor, message)
        if not matches:
            return
        result.matches += len(matches)
        # Ids of their own: a backfilled block may also have been delivered live, with other events.
        part = f"backfill:{target.job_id}:{message.chunk}"
        result.deliveries += self._enqueue(
            monitor.tenant_id,
            monitor.monitor_id,
            message.header,
            [match.delivered_event() for match in matches],
            block_part=part,
            origin=origins.BACKFILL,
        )

    def _match_for(self, monitor: MonitorView, message: BlockMessage) -> list[Match]:
        """The block's matches for this monitor alone."""
        candidates = self.index.candidates(message.events)
        watchers = {
            address: [w for w in found if w.monitor_id == monitor.monitor_id]
            for address, found in (self.index.watchers(candidates) if candidates else {}).items()
        }
        everyone = [monitor] if monitor.watches_all_addresses else []
        events = self._resolve_stand_ins(message.events, [monitor]) if message.has_stand_ins else message.events
        return match_events(events, {monitor.monitor_id: monitor}, watchers, everyone)

    def _process_reconcile(self, message: BlockMessage, result: BatchResult) -> None:
        """A past block read again for one monitor's reconcile: match it for that monitor as it is
        now, compare with the deliveries recorded for it at that height, record what differs on the
        job, and with `heal` send the missing events and take back the stale ones.

        The findings of a chunk are recorded once (a repeat finds them recorded); the heal runs on a
        repeat too, under the same delivery ids, so a crash between the two loses nothing."""
        result.blocks += 1
        result.events += len(message.events)
        target, header = message.backfill, message.header
        monitor = self.index.monitors.get(target.monitor_id)
        if monitor is None:
            return  # deleted since the reconcile was asked for
        try:
            job = get_monitor(monitor.tenant_id, monitor.monitor_id).reconcile
        except MonitorNotFound:
            return
        if job is None or job.job_id != target.job_id or job.status == "failed":
            return  # another job now, or this one failed
        try:
            self._reconcile_block(message, monitor, job, result)
        except Exception as error:
            # An audit asked for on demand must never hold up the chain's live blocks behind it (a
            # record that raises is retried, and its partition waits): the job fails with the reason
            # and can be started again. If even that cannot be recorded, the record is retried.
            ids = {"correlation_id": header.correlation_id, "monitor_id": monitor.monitor_id, "job_id": job.job_id}
            logger.exception("reconcile failed on a block", extra=ids)
            reason = f"block {header.number}: {type(error).__name__}: {error}"
            reconciles.fail_reconcile_of(monitor.tenant_id, monitor.monitor_id, job.job_id, reason)

    def _reconcile_block(
        self, message: BlockMessage, monitor: MonitorView, job: ReconcileAttribute, result: BatchResult
    ) -> None:
        # A job already done still heals on a repeat: its last block may not have been sent yet.
        header = message.header
        events = [match.delivered_event() for match in self._match_for(monitor, message)]
        recorded = deliveries_of_block(monitor.monitor_id, header.chain_id, header.number)
        hashes = {header.hash, *(record.block_hash for record in recorded)}
        size = len(events) + sum(int(record.event_count or 0) for record in recorded)
        own = reconcile.own_deliveries(monitor.monitor_id, job.job_id, message.chunk, hashes, size)
        # The other blocks at this height are compared once, with the block's first chunk.
        found = reconcile.compare(header.hash, events, recorded, delivery_payload, own, message.chunk == 0)
        last = header.number == int(job.to_block) and message.chunk == message.chunks - 1
        reconciles.record_checked(
            monitor.tenant_id, monitor.monitor_id, job.job_id, header.number, message.chunk, last,
            [event["id"] for event in found.missing], found.extra_ids, (len(job.missing), len(job.extra)),
        )  # fmt: skip
        if not job.heal:
            return
        if found.missing:
            result.matches += len(found.missing)
            result.deliveries += self._enqueue(
                monitor.tenant_id, monitor.monitor_id, header, found.missing,
                block_part=reconcile.heal_part(job.job_id, message.chunk), origin=origins.RECONCILE,
            )  # fmt: skip
        for block_hash, stale in found.extra.items():
            block = stale.block
            gone = BlockHeader(header.chain_id, block["number"], block_hash, block["parent_hash"], block["timestamp"])
            result.removed += self._enqueue(
                monitor.tenant_id, monitor.monitor_id, gone, stale.events, removed=True,
                block_part=reconcile.heal_part(job.job_id), origin=origins.RECONCILE,
            )  # fmt: skip
            # Its matches are taken back too: if the block comes back, they are sent again.
            for item in match_store.matches_of_block(header.chain_id, block_hash):
                if item.monitor_id == monitor.monitor_id and item.status == "sent":
                    match_store.settle(item, "removed", expected="sent")

    def _release(self, chain_id: int, number: int, result: BatchResult, finality: dict[str, int]) -> None:
        """Send the pending matches this block makes deep enough, and those its node's safe and
        finalized heads now cover."""
        due_now = match_store.due_matches(chain_id, number)
        # Asked only when a head moved: a match recorded since, of a block the head covered, was
        # sent when it was recorded.
        moved = {tag: head for tag, head in finality.items() if self._final_heads.get((chain_id, tag)) != head}
        if moved:
            due_now += match_store.final_matches(chain_id, moved)
        for due in due_now:
            # The index is eventually consistent: it may still show a match a revert just dropped.
            item = match_store.get_match(due)
            if item.status != "pending" or match_store.generation(item) != match_store.generation(due):
                continue
            result.deliveries += self._send(item, removed=False)
            match_store.settle(item, "sent", expected="pending")
        for tag, head in moved.items():  # after the sends: a batch that fails asks again
            self._final_heads[(chain_id, tag)] = head

    def _released_by(self, chain_id: int) -> dict[str, int]:
        """The safe / finalized blocks this chain's waiting matches have been released by."""
        return {tag: head for (chain, tag), head in self._final_heads.items() if chain == chain_id}
    def _process_revert(self, message: RevertMessage, result: BatchResult, position: Position | None = None) -> None:
        result.reverts += 1
        for item in match_store.matches_of_block(message.chain_id, message.hash):
            if match_store.is_repeat(item, position):
                # Seen before, and maybe followed by the block's return: only what it is now is
                # sent again (a no-op once recorded).
                if item.status == "sent":
                    result.deliveries += self._send(item, removed=False)
                elif item.status == "removed":
                    result.removed += self._send(item, removed=True)
                continue
            if item.status == "pending" and not self._released(item):
                match_store.settle(item, "dropped", expected="pending", position=position)
            elif item.status in ("pending", "sent", "removed"):
                # Sent again on a repeat of the revert too: the same ids make that a no-op.
                result.removed += self._send(item, removed=True)
                if item.status != "removed":
                    match_store.settle(item, "removed", expected=item.status, position=position)
        logger.info(
            "block reverted",
            extra={
                "correlation_id": correlation_id(message.chain_id, message.hash),
                "chain_id": message.chain_id,
                "number": message.number,
            },
        )

    def _released(self, item: MatchModel) -> bool:
        """Whether a pending match was sent: released by a run that stopped before it settled the match."""
        return self.deliveries.recorded(
            item.monitor_id,
            _header_of(item),
            match_store.decode_events(item),
            block_part=_block_part(item),
            generation=match_store.generation(item),
        )

    def _send(self, item: MatchModel, removed: bool) -> int:
        return self._enqueue(
            item.tenant_id,
            item.monitor_id,
            _header_of(item),
            match_store.decode_events(item),
            removed=removed,
            block_part=_block_part(item),
            generation=match_store.generation(item),
            origin=origins.REMOVED if removed else match_store.origin_of(item),
        )

    def _enqueue(
        self,
        tenant_id: str,
        monitor_id: str,
        header: BlockHeader,
        events: list[dict],
        removed: bool = False,
        block_part: int | str | None = None,
        generation: int = 0,
        origin: str = origins.LIVE,
    ) -> int:
        """Record and queue a monitor's deliveries of a block, logged under the block's correlation id
        (a match released by a later block is still its own block's work)."""
        ids = self.deliveries.enqueue(
            tenant_id, monitor_id, header, events, removed=removed, block_part=block_part, generation=generation,
            origin=origin,
        )
        logger.info(
            "deliveries recorded",
            extra={
                "correlation_id": header.correlation_id,
                "monitor_id": monitor_id,
                "block_number": header.number,
                "removed": removed,
                "origin": origin,
                "generation": generation,
                "delivery_ids": ids,
            },
        )
        return len(ids)


def _settle_garbage() -> None:
    """After a batch: collect its cyclic garbage, then freeze what is left (gc.freeze).

    A matcher process holds a large long-lived view (a million addresses, thousands of monitors,
    botocore's service models) and each batch promotes some of its short-lived objects, so the
    cyclic collector would otherwise walk all of it in a full collection about once per 100-block
    batch: ~0.4 s each time with 1,000,000 addresses, a fifth of the batch (bench/results/matcher.json).
    Frozen objects are still freed by reference counting when dropped; collecting first freezes no
    garbage; after the first batch that collection only walks what the last batch left (~ms)."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class _LiveBlock:
    """A live block of a batch, kept for _catch_up as the message it came in: decoded again only if
    the view changes (rare). Holding the decoded events instead would keep ~100 MB of small objects
    alive per 100-block batch, which the garbage collector then walks again and again
    (bench/results/matcher.json, "gc_seconds_per_run")."""

    header: BlockHeader
    value: bytes | str | Base64Value
    position: Position | None = None


def _header_of(item: MatchModel) -> BlockHeader:
    block = match_store.block_of(item)
    return BlockHeader(int(item.chain_id), block["number"], block["hash"], block["parent_hash"], block["timestamp"])


def _block_part(item: MatchModel) -> int | str | None:
    return item.part if item.part else (None if item.chunk is None else int(item.chunk))


def _by_monitor(matches: Iterable[Match]) -> dict[str, list[Match]]:
    groups: dict[str, list[Match]] = {}
    for match in matches:
        groups.setdefault(match.monitor_id, []).append(match)
    return groups
