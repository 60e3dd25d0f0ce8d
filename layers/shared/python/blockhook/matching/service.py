"""Turn a batch of `blocks` messages into recorded, queued deliveries.

Per block: match, keep each monitor's events of the block (store/matches.py), send those
of monitors with 0 confirmations at once, then release the pending matches of this chain
that the block makes deep enough. Per revert: drop the block's pending matches and take
back the sent ones with a `removed: true` delivery of the same events.

Idempotent on re-delivery of the same records: matches are written once per
(block, monitor, chunk) and delivery ids are derived from (monitor, block hash, removed,
chunk), so a repeat records nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import Match, match_events
from blockhook.store import matches as match_store
from blockhook.store.models import MatchModel
from blockhook.streaming.codec import BlockHeader, BlockMessage, MalformedMessage, RevertMessage, decode

logger = logging.getLogger(__name__)


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
    ) -> None:
        self.index = index
        self.deliveries = deliveries
        self.default_confirmations = default_confirmations

    def process(self, values: Iterable[bytes]) -> BatchResult:
        result = BatchResult()
        self.index.refresh()  # one version read per batch
        progress: dict[int, int] = {}
        for value in values:
            try:
                message = decode(value)
            except MalformedMessage as error:
                # Not ours to fix and retrying cannot help: count it, log it, go on.
                result.malformed += 1
                logger.error("malformed message on the blocks topic", extra={"error": str(error)})
                continue
            if isinstance(message, RevertMessage):
                self._process_revert(message, result)
                progress[message.chain_id] = message.number - 1
            else:
                self._process_block(message, result)
                progress[message.header.chain_id] = message.header.number
        for chain_id, number in progress.items():
            match_store.record_progress(chain_id, number)
        return result

    def _process_block(self, message: BlockMessage, result: BatchResult) -> None:
        result.blocks += 1
        result.events += len(message.events)
        header = message.header
        index = self.index
        candidates = index.candidates(message.events)
        watchers = index.watchers(candidates) if candidates else {}
        matches = match_events(message.events, index.monitors, watchers, index.all_address_monitors)
        result.matches += len(matches)
        chunk = message.chunk if message.chunks > 1 else None
        for monitor_id, group in _by_monitor(matches).items():
            monitor = index.monitors[monitor_id]
            confirmations = (
                monitor.confirmations
                if monitor.confirmations is not None
                else self.default_confirmations(header.chain_id)
            )
            item, _ = match_store.record_match(
                tenant_id=monitor.tenant_id,
                monitor_id=monitor_id,
                chain_id=header.chain_id,
                block=header.as_payload_block(),
                chunk=chunk,
                events=[match.delivered_event() for match in group],
                confirmations=confirmations,
            )
            if item.status == "sent":
                # Sent again on a repeat too: delivery ids make that a no-op, and it covers a
                # crash between recording the match and queueing its delivery.
                result.deliveries += self._send(item, removed=False)
        self._release(header.chain_id, header.number, result)

    def _release(self, chain_id: int, number: int, result: BatchResult) -> None:
        for item in match_store.due_matches(chain_id, number):
            result.deliveries += self._send(item, removed=False)
            match_store.settle(item, "sent", expected="pending")

    def _process_revert(self, message: RevertMessage, result: BatchResult) -> None:
        result.reverts += 1
        for item in match_store.matches_of_block(message.chain_id, message.hash):
            if item.status == "pending":
                match_store.settle(item, "dropped", expected="pending")
            elif item.status in ("sent", "removed"):
                result.removed += self._send(item, removed=True)
                match_store.settle(item, "removed", expected="sent")
        logger.info("block reverted", extra={"chain_id": message.chain_id, "number": message.number})

    def _send(self, item: MatchModel, removed: bool) -> int:
        block = match_store.block_of(item)
        header = BlockHeader(int(item.chain_id), block["number"], block["hash"], block["parent_hash"], block["timestamp"])
        chunk = None if item.chunk is None else int(item.chunk)
        ids = self.deliveries.enqueue(
            item.tenant_id, item.monitor_id, header, match_store.decode_events(item), removed=removed, block_part=chunk
        )
        return len(ids)


def _by_monitor(matches: Iterable[Match]) -> dict[str, list[Match]]:
    groups: dict[str, list[Match]] = {}
    for match in matches:
        groups.setdefault(match.monitor_id, []).append(match)
    return groups
