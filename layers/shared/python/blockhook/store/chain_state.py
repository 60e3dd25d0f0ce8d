"""Per-chain ingest checkpoints with a window of recent block hashes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, PutError

from blockhook.store.models import ChainStateModel, MatcherProgressModel

HASH_WINDOW = 256  # blocks of history kept to find a reorg's common ancestor


class CheckpointConflict(RuntimeError):
    """Another ingest moved the checkpoint first; this one must re-read it."""


@dataclass(frozen=True)
class Checkpoint:
    chain_id: int
    number: int | None
    hash: str | None
    window: dict[int, str]  # number -> hash, the last HASH_WINDOW blocks
    head: int | None
    # (number, hash) of the blocks rewound past, newest first, while their reverts are unpublished
    reverting: tuple[tuple[int, str], ...] = ()


def _key(chain_id: int) -> str:
    return f"chain#{chain_id}"


def load_checkpoint(chain_id: int) -> Checkpoint:
    try:
        item = ChainStateModel.get(_key(chain_id), consistent_read=True)
    except DoesNotExist:
        return Checkpoint(chain_id, None, None, {}, None)
    window = dict(_pairs(item.window))
    number = None if item.number is None else int(item.number)
    head = None if item.head is None else int(item.head)
    return Checkpoint(chain_id, number, item.hash, window, head, tuple(_pairs(item.reverting)))


def _pairs(entries: list[str] | None) -> list[tuple[int, str]]:
    pairs = []
    for entry in entries or []:
        number, _, block_hash = entry.partition(":")
        pairs.append((int(number), block_hash))
    return pairs


def save_checkpoint(previous: Checkpoint, blocks: Sequence[tuple[int, str]], head: int | None) -> Checkpoint:
    """Move the checkpoint to the last of `blocks` (ascending (number, hash) pairs following
    `previous`), only if nobody moved it since `previous` was read."""
    window = dict(previous.window)
    for number, block_hash in blocks:
        window[number] = block_hash
    kept = dict(sorted(window.items())[-HASH_WINDOW:])
    number, block_hash = blocks[-1] if blocks else (previous.number, previous.hash)
    return _write(previous, number, block_hash, kept, head)


def rewind_checkpoint(previous: Checkpoint, ancestor: int, reverting: Sequence[tuple[int, str]] = ()) -> Checkpoint:
    """After a reorg: forget the blocks above the common ancestor, and remember `reverting`, the
    reverts still to publish (the next save forgets them). A reorg deeper than the window leaves
    the ancestor's hash unknown (None): the next block is then taken as is."""
    window = {n: h for n, h in previous.window.items() if n <= ancestor}
    return _write(previous, ancestor, window.get(ancestor), window, previous.head, tuple(reverting))


def _write(
    previous: Checkpoint,
    number: int | None,
    block_hash: str | None,
    window: dict[int, str],
    head: int | None,
    reverting: tuple[tuple[int, str], ...] = (),
) -> Checkpoint:
    head = head if head is not None else previous.head
    item = ChainStateModel(
        _key(previous.chain_id),
        chain_id=previous.chain_id,
        number=number,
        hash=block_hash,
        window=[f"{n}:{h}" for n, h in sorted(window.items())],
        head=head,
        updated_at=int(time.time()),
        reverting=[f"{n}:{h}" for n, h in reverting] or None,
    )
    # Guarded on the number read before: two ingests racing cannot both move it.
    condition = (
        ChainStateModel.number.does_not_exist()
        if previous.number is None
        else ChainStateModel.number == previous.number
    )
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise CheckpointConflict(f"chain {previous.chain_id}: checkpoint moved by another ingest") from None
        raise
    return Checkpoint(previous.chain_id, number, block_hash, window, head, reverting)


def record_head(chain_id: int, head: int) -> None:
    ChainStateModel(_key(chain_id)).update(
        actions=[ChainStateModel.head.set(head), ChainStateModel.chain_id.set(chain_id)]
    )


@dataclass(frozen=True)
class NodeHeads:
    """What a chain's node last told ingest, for GET /v1/chains and the stall alarm."""

    head: int
    safe: int | None
    finalized: int | None
    seen_at: float  # unix seconds of that answer
    head_moved_at: float  # unix seconds since which the head has been `head`


def load_node_heads(chain_id: int) -> NodeHeads | None:
    try:
        item = ChainStateModel.get(f"node#{chain_id}", consistent_read=True)
    except DoesNotExist:
        return None
    return NodeHeads(
        int(item.head),
        None if item.safe is None else int(item.safe),
        None if item.finalized is None else int(item.finalized),
        float(item.seen_at),
        float(item.head_moved_at),
    )


def record_node_heads(chain_id: int, head: int, finality: dict[str, int | None], now: float,
                      previous: NodeHeads | None) -> NodeHeads:  # fmt: skip
    """Record the node's answer; the head's age restarts only when the head moved."""
    moved_at = previous.head_moved_at if previous is not None and previous.head == head else now
    heads = NodeHeads(head, finality.get("safe"), finality.get("finalized"), now, moved_at)
    ChainStateModel(
        f"node#{chain_id}", chain_id=chain_id, head=head, safe=heads.safe, finalized=heads.finalized,
        seen_at=round(now, 3), head_moved_at=round(moved_at, 3), updated_at=int(now),
    ).save()  # fmt: skip
    return heads


def stalled(heads: NodeHeads | None, poll_interval: float, now: float) -> bool:
    """A chain whose head has not moved for STALL_BLOCK_TIMES block times (the poll interval stands for
    the block time, as the chain configuration says): its node stopped advancing, or ingest stopped
    hearing from it (the head it last recorded ages too)."""
    return heads is not None and now - heads.head_moved_at > STALL_BLOCK_TIMES * poll_interval


STALL_BLOCK_TIMES = 10
NO_TRACES = "none"


def recorded_trace_format(chain_id: int) -> str | None:
    """The trace format ingest reads this chain's blocks with, "none" when its node serves no traces,
    or None when ingest has not decided yet."""
    try:
        return ChainStateModel.get(f"traces#{chain_id}", consistent_read=True).traces
    except DoesNotExist:
        return None


def serves_traces(chain_id: int, configured: str) -> bool | None:
    """Whether the chain's blocks are read with call traces: from its configuration ("auto", a
    format or "off"), else as ingest recorded it; None while not known."""
    if configured != "auto":
        return configured != "off"
    recorded = recorded_trace_format(chain_id)
    return None if recorded is None else recorded != NO_TRACES


def record_trace_format(chain_id: int, trace_format: str | None) -> None:
    ChainStateModel(
        f"traces#{chain_id}", chain_id=chain_id, traces=trace_format or NO_TRACES, updated_at=int(time.time())
    ).save()


def all_checkpoints() -> list[Checkpoint]:
    states = []
    for item in ChainStateModel.scan(ChainStateModel.key.startswith("chain#")):
        states.append(load_checkpoint(int(item.chain_id)))
    return states


def recorded_genesis(chain_id: int) -> str | None:
    """The hash of the genesis block of the node the chain's checkpoint was made on; None before ingest
    recorded one."""
    try:
        return ChainStateModel.get(f"genesis#{chain_id}", consistent_read=True).hash
    except DoesNotExist:
        return None


def record_genesis(chain_id: int, genesis_hash: str) -> None:
    ChainStateModel(f"genesis#{chain_id}", chain_id=chain_id, hash=genesis_hash, updated_at=int(time.time())).save()


def reset_chain(chain_id: int) -> None:
    """Forget where ingest and the matcher are on the chain (its checkpoint, what its node said, its trace
    format, the matcher's progress): its next poll starts at the node's head, as for a new chain. Monitors
    and deliveries stay."""
    for key in (_key(chain_id), f"node#{chain_id}", f"traces#{chain_id}"):
        ChainStateModel(key).delete()
    MatcherProgressModel(f"matched#{chain_id}").delete()
