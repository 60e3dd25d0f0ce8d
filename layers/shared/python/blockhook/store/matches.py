"""Matches kept per (block, monitor): released once confirmed, taken back on a reorg, armed
again when their block comes back.

A match's life, per block message (`on_block`) and revert (`on_revert`):

    absent  --block-->  pending (confirmations > 0) or sent (0)
    pending --release (deep enough)--> sent
    pending --revert--> dropped        (never sent: nothing to take back)
    sent    --revert--> removed        (a `removed: true` delivery)
    removed, dropped --block--> pending or sent, generation + 1   (the block is back)

Each generation's deliveries get ids of their own, so a block that flips A, B, A is sent, taken
back and sent again in three deliveries, while a repeat of the same record finds its deliveries
already recorded. A record is told to be a repeat by its place on the topic (`Position`), when
known: one at or before the record that last changed the match changed nothing since.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pynamodb.exceptions import PutError, UpdateError

from blockhook.chain.reader import FINALITY_TAGS
from blockhook.delivery import origin as origins
from blockhook.store.blobs import spill, unspill
from blockhook.store.models import MatcherProgressModel, MatchModel

SETTLED_RETENTION_SECONDS = 7 * 24 * 3600  # far beyond any reorg a chain recovers from
LIVE = frozenset({"pending", "sent"})  # the block is canonical as far as the match knows
TAKEN_BACK = frozenset({"dropped", "removed"})


class Position(NamedTuple):
    """A record's place on the topic: its partition ("<topic>-<partition>") and offset."""

    partition: str
    offset: int


def generation(item: MatchModel) -> int:
    return int(item.generation or 0)


def waits(confirmations: int | str, number: int, finality: Mapping[str, int | None]) -> bool:
    """Whether a match of block `number` must wait before it is sent: N > 0 confirmations, or a
    finality tag ("safe", "finalized") the node's `finality` head of that tag has not reached yet."""
    if isinstance(confirmations, str):
        head = finality.get(confirmations)
        return head is None or number > head
    return confirmations > 0


def on_block(status: str, waiting: bool) -> str | None:
    """The status a block message moves a match in `status` to, or None when it changes nothing
    (the block is live already: a repeat). A block back after a revert waits for its confirmations
    again, as a new block would: N blocks must stand on it on the branch that brought it back."""
    if status in TAKEN_BACK:
        return "pending" if waiting else "sent"
    return None


def on_revert(status: str) -> str | None:
    """The status a revert moves a match in `status` to, or None when it changes nothing."""
    return {"pending": "dropped", "sent": "removed"}.get(status)


def is_repeat(item: MatchModel, position: Position | None) -> bool:
    """Whether the record at `position` is one the match has seen (handed again), not a new one."""
    if position is None or item.applied_offset is None or item.applied_partition != position.partition:
        return False
    return position.offset <= int(item.applied_offset)


def origin_of(item: MatchModel) -> str:
    """What found the match (live or catch_up); a record stored without an origin is told by its part."""
    if item.origin:
        return item.origin
    return origins.CATCH_UP if (item.part or "").startswith("catchup") else origins.LIVE


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
    confirmations: int | str,
    part: str | None = None,
    position: Position | None = None,
    finality: Mapping[str, int | None] | None = None,
    origin: str = origins.LIVE,
) -> tuple[MatchModel, bool]:
    """Keep a monitor's events of a block; returns the stored item and whether this call made it.
    `origin` (live or catch_up) is handed on to its deliveries.

    Born `sent` when it need not wait (0 confirmations, or its finality tag already covers the
    block: the caller sends it now); otherwise `pending` until block number + confirmations is
    processed, or until the node's head of its finality tag reaches the block."""
    pending = waits(confirmations, block["number"], finality or {})
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
        **(_waiting_for(chain_id, block["number"], confirmations) if pending else {}),
        expires_at=None if pending else int(time.time()) + SETTLED_RETENTION_SECONDS,
        generation=0,
        applied_partition=position.partition if position else None,
        applied_offset=position.offset if position else None,
        origin=origin,
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


def _waiting_for(chain_id: int, number: int, confirmations: int | str) -> dict[str, Any]:
    """The attributes that put a pending match in the index its release is looked up in."""
    if isinstance(confirmations, str):
        return {"pending_finality": finality_key(chain_id, confirmations)}
    return {"release_at": number + confirmations, "pending_chain": chain_id}


def finality_key(chain_id: int, tag: str) -> str:
    return f"{chain_id}#{tag}"


def due_matches(chain_id: int, number: int) -> list[MatchModel]:
    """Pending matches of this chain that are deep enough once block `number` is processed."""
    return list(MatchModel.pending_by_chain.query(chain_id, MatchModel.release_at <= number))


def final_matches(chain_id: int, finality: Mapping[str, int | None]) -> list[MatchModel]:
    """Pending matches of this chain waiting for a finality tag whose head now covers their block."""
    due: list[MatchModel] = []
    for tag in FINALITY_TAGS:
        head = finality.get(tag)
        if head is not None:
            due += MatchModel.pending_by_finality.query(finality_key(chain_id, tag), MatchModel.block_number <= head)
    return due


def drop_waiting(chain_id: int) -> int:
    """Drop every match of this chain still waiting to be sent: their blocks are of a chain the node no
    longer serves (another genesis), and a new chain reaching the same numbers must not release them.
    Returns how many were dropped."""
    waiting = list(MatchModel.pending_by_chain.query(chain_id))
    for tag in FINALITY_TAGS:
        waiting += MatchModel.pending_by_finality.query(finality_key(chain_id, tag))
    # Read again: the indexes are eventually consistent, and settle() holds to the generation read.
    return sum(settle(item, "dropped", "pending") for item in map(get_match, waiting) if item.status == "pending")


def matches_of_block(chain_id: int, block_hash: str) -> list[MatchModel]:
    return list(MatchModel.query(block_key(chain_id, block_hash), consistent_read=True))


def get_match(item: MatchModel) -> MatchModel:
    return MatchModel.get(item.block_key, item.match_key, consistent_read=True)


def settle(item: MatchModel, status: str, expected: str, position: Position | None = None) -> bool:
    """Move a match from `expected` to `status` (sent, dropped or removed) within its generation;
    False if someone else moved it first."""
    return _update(
        item,
        [
            MatchModel.status.set(status),
            MatchModel.pending_chain.remove(),
            MatchModel.pending_finality.remove(),
            MatchModel.expires_at.set(int(time.time()) + SETTLED_RETENTION_SECONDS),
            *_applied(position),
        ],
        expected,
    )


def rearm(
    item: MatchModel,
    *,
    status: str,
    events: Sequence[Mapping[str, Any]],
    confirmations: int | str,
    position: Position | None,
) -> bool:
    """The block of a removed or dropped match is canonical again: start the match's next
    generation as `status` (pending or sent), holding `events` (the block matched with the view of
    now). False if someone else moved it first."""
    index = _waiting_for(int(item.chain_id), int(item.block_number), confirmations) if status == "pending" else {}
    waiting = [
        getattr(MatchModel, name).set(index[name]) if name in index else getattr(MatchModel, name).remove()
        for name in ("release_at", "pending_chain", "pending_finality")
    ]
    if status == "pending":
        waiting.append(MatchModel.expires_at.remove())  # nothing in flight expires
    else:
        waiting.append(MatchModel.expires_at.set(int(time.time()) + SETTLED_RETENTION_SECONDS))
    stored = _events_attributes(events)  # spilled to S3 like a new match's, when too large
    return _update(
        item,
        [
            MatchModel.status.set(status),
            MatchModel.generation.set(generation(item) + 1),
            MatchModel.events.set(stored["events"]) if stored["events"] is not None else MatchModel.events.remove(),
            MatchModel.events_ref.set(stored["events_ref"]) if stored["events_ref"] else MatchModel.events_ref.remove(),
            *waiting,
            *_applied(position),
        ],
        item.status,
    )


def _applied(position: Position | None) -> list:
    if position is None:
        return []
    return [MatchModel.applied_partition.set(position.partition), MatchModel.applied_offset.set(position.offset)]


def _update(item: MatchModel, actions: list, expected: str) -> bool:
    """Apply `actions` if the match is still in `expected` and in the generation read; the item is
    updated in place."""
    same_generation = (
        MatchModel.generation.does_not_exist() if item.generation is None else MatchModel.generation == item.generation
    )
    try:
        item.update(actions=actions, condition=(MatchModel.status == expected) & same_generation)
        return True
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return False


def record_progress(
    chain_id: int, number: int, version: int | None = None, finality: Mapping[str, int] | None = None
) -> None:
    """The matcher has processed the chain up to block `number` with the monitors of `version`, and
    released what the node's safe and finalized blocks of `finality` cover."""
    finality = finality or {}
    MatcherProgressModel(
        f"matched#{chain_id}", chain_id=chain_id, number=number, updated_at=int(time.time()), version=version,
        safe=finality.get("safe"), finalized=finality.get("finalized"),
    ).save()  # fmt: skip


def record_progress_version(chain_id: int, version: int | None) -> None:
    """The blocks the chain's progress covers have been matched with the monitors of `version` too."""
    try:
        MatcherProgressModel(f"matched#{chain_id}").update(
            actions=[MatcherProgressModel.version.set(version)], condition=MatcherProgressModel.key.exists()
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def matcher_progress(chain_id: int) -> int | None:
    found = matcher_position(chain_id)
    return None if found is None else found[0]


class MatcherPosition(NamedTuple):
    number: int  # the last block processed
    version: int | None  # the monitors version it was processed with
    finality: dict[str, int]  # the safe / finalized blocks it released matches by


def matcher_position(chain_id: int) -> MatcherPosition | None:
    """Where the matcher is on a chain, or None before its first block."""
    try:
        item = MatcherProgressModel.get(f"matched#{chain_id}", consistent_read=True)
    except MatcherProgressModel.DoesNotExist:
        return None
    finality = {tag: int(getattr(item, tag)) for tag in FINALITY_TAGS if getattr(item, tag) is not None}
    return MatcherPosition(int(item.number), None if item.version is None else int(item.version), finality)
