"""Matches kept per (block, monitor): released once confirmed, taken back on a reorg."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from blockhook.store.blobs import spill, unspill
from blockhook.store.models import MatcherProgressModel, MatchModel

SETTLED_RETENTION_SECONDS = 7 * 24 * 3600  # far beyond any reorg a chain recovers from


def block_key(chain_id: int, block_hash: str) -> str:
    return f"{chain_id}#{block_hash}"


def encode_events(events: Sequence[Mapping[str, Any]]) -> bytes:
    return zlib.compress(json.dumps(list(events), separators=(",", ":")).encode())


def decode_events(item: MatchModel) -> list[dict[str, Any]]:
    return json.loads(zlib.decompress(unspill(item.events, item.events_ref)))


def block_of(item: MatchModel) -> dict[str, Any]:
    return json.loads(item.block)


def record_match(
    *,
    tenant_id: str,
    monitor_id: str,
    chain_id: int,
    block: Mapping[str, Any],
    chunk: int | None,
    events: Sequence[Mapping[str, Any]],
    confirmations: int,
    part: str | None = None,
) -> tuple[MatchModel, bool]:
    """Keep a monitor's events of a block; returns the stored item and whether this call made it.

    With confirmations 0 it is born `sent` (the caller sends it now); otherwise `pending`
    until block number + confirmations is processed."""
    pending = confirmations > 0
    item = MatchModel(
        block_key(chain_id, block["hash"]),
        f"{monitor_id}#{part}" if part else f"{monitor_id}#{chunk or 0}",
        monitor_id=monitor_id,
        tenant_id=tenant_id,
        chain_id=chain_id,
        block_number=block["number"],
        block=json.dumps(dict(block), separators=(",", ":")),
        chunk=chunk,
        part=part,
        **_events_attributes(events),
        status="pending" if pending else "sent",
        release_at=block["number"] + confirmations if pending else None,
        pending_chain=chain_id if pending else None,
        expires_at=None if pending else int(time.time()) + SETTLED_RETENTION_SECONDS,
    )
    try:
        item.save(condition=MatchModel.block_key.does_not_exist())
        return item, True
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    return MatchModel.get(item.block_key, item.match_key, consistent_read=True), False


def _events_attributes(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`events`, or `events_ref` when the compressed events would pass a DynamoDB item's size."""
    inline, key = spill("matches", encode_events(events))
    return {"events": inline, "events_ref": key}


def due_matches(chain_id: int, number: int) -> list[MatchModel]:
    """Pending matches of this chain that are deep enough once block `number` is processed."""
    return list(MatchModel.pending_by_chain.query(chain_id, MatchModel.release_at <= number))


def matches_of_block(chain_id: int, block_hash: str) -> list[MatchModel]:
    return list(MatchModel.query(block_key(chain_id, block_hash), consistent_read=True))


def settle(item: MatchModel, status: str, expected: str) -> bool:
    """Move a match from `expected` to `status`; False if someone else moved it first."""
    try:
        item.update(
            actions=[
                MatchModel.status.set(status),
                MatchModel.pending_chain.remove(),
                MatchModel.expires_at.set(int(time.time()) + SETTLED_RETENTION_SECONDS),
            ],
            condition=MatchModel.status == expected,
        )
        return True
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False


def record_progress(chain_id: int, number: int) -> None:
    MatcherProgressModel(f"matched#{chain_id}", chain_id=chain_id, number=number, updated_at=int(time.time())).save()


def matcher_progress(chain_id: int) -> int | None:
    try:
        return int(MatcherProgressModel.get(f"matched#{chain_id}", consistent_read=True).number)
    except MatcherProgressModel.DoesNotExist:
        return None
