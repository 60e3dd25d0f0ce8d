"""Turn a batch of `blocks` messages into recorded, queued deliveries.

Idempotent on re-delivery of the same records: delivery ids are derived from
(monitor, block hash, removed, chunk), so a repeated block writes nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import Match, match_events
from blockhook.streaming.codec import BlockMessage, MalformedMessage, RevertMessage, decode

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    blocks: int = 0
    reverts: int = 0
    events: int = 0
    matches: int = 0
    deliveries: int = 0
    malformed: int = 0


class MatchService:
    def __init__(self, index: WatchIndex, deliveries: DeliveryService) -> None:
        self.index = index
        self.deliveries = deliveries

    def process(self, values: Iterable[bytes]) -> BatchResult:
        result = BatchResult()
        self.index.refresh()  # one version read per batch
        for value in values:
            try:
                message = decode(value)
            except MalformedMessage as error:
                # Not ours to fix and retrying cannot help: count it, log it, go on.
                result.malformed += 1
                logger.error("malformed message on the blocks topic", extra={"error": str(error)})
                continue
            if isinstance(message, RevertMessage):
                result.reverts += 1
                logger.info("block reverted", extra={"chain_id": message.chain_id, "number": message.number})
                continue
            self._process_block(message, result)
        return result

    def _process_block(self, message: BlockMessage, result: BatchResult) -> None:
        result.blocks += 1
        result.events += len(message.events)
        index = self.index
        candidates = index.candidates(message.events)
        watchers = index.watchers(candidates) if candidates else {}
        matches = match_events(message.events, index.monitors, watchers, index.all_address_monitors)
        result.matches += len(matches)
        part = message.chunk if message.chunks > 1 else None
        for monitor_id, group in _by_monitor(matches).items():
            monitor = index.monitors[monitor_id]
            ids = self.deliveries.enqueue(
                monitor.tenant_id,
                monitor_id,
                message.header,
                [match.delivered_event() for match in group],
                block_part=part,
            )
            result.deliveries += len(ids)


def _by_monitor(matches: Iterable[Match]) -> dict[str, list[Match]]:
    groups: dict[str, list[Match]] = {}
    for match in matches:
        groups.setdefault(match.monitor_id, []).append(match)
    return groups
