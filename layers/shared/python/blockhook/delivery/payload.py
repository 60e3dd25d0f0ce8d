"""Webhook bodies: one monitor's events of one block, in chain order, at most 100 per delivery.

The delivery id is derived from (monitor, block hash, removed, chunk, generation), so building
the same block twice gives the same ids and the delivery store can refuse the repeat
(at-least-once, never twice by our own doing). A `removed: true` delivery holds the same event
ids, sorted and chunked the same way, under different delivery ids. The generation counts the
times a block came back after a revert (a chain that flips A, B, A): each return is sent under
ids of its own.

`build_payloads` leaves `sequence` out: the store gives it when it records the delivery
(`numbered`), since only there is it known which deliveries are new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from blockhook.chain.kinds import order_key

MAX_EVENTS_PER_DELIVERY = 100
DELIVERY_ID_PREFIX = "dlv_"
BLOCK_FIELDS = ("number", "hash", "parent_hash", "timestamp")


def delivery_id(monitor_id: str, block_hash: str, removed: bool, chunk: int, generation: int = 0) -> str:
    """`dlv_` + first 32 hex digits of sha256(`monitor_id:block_hash:true|false:chunk`), with
    `:generation` appended when the generation is above 0.

    The block hash is lowercased (hashes are case-insensitive hex), `removed` is written
    `true`/`false`, `chunk` is the 0-based chunk number and `generation` in decimal.
    """
    for name, value in (("chunk", chunk), ("generation", generation)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"delivery {name} must be a non-negative integer, got {value!r}")
    parts = [str(monitor_id), str(block_hash).lower(), "true" if removed else "false", str(chunk)]
    if generation:
        parts.append(str(generation))
    return DELIVERY_ID_PREFIX + hashlib.sha256(":".join(parts).encode("utf-8")).hexdigest()[:32]


def event_sort_key(event: dict) -> tuple:
    """Chain order (chain/kinds.py order_key); ValueError for an event without its indexes."""
    return order_key(event)


def _block_header(block: Mapping) -> dict:
    missing = [name for name in BLOCK_FIELDS if name not in block]
    if missing:
        raise ValueError(f"block is missing {', '.join(missing)}")
    return {name: block[name] for name in BLOCK_FIELDS}


def build_payloads(
    monitor_id: str, chain_id: int, block: Mapping, events: Sequence[dict], removed: bool, generation: int = 0
) -> list[dict]:
    """One payload (CONTRACT section 4 shape) per chunk of at most 100 sorted events.

    Events are passed through as given (they already carry `matched_addresses` and `labels`);
    no events give no payloads.
    """
    header = _block_header(block)
    ordered = sorted(events, key=event_sort_key)
    payloads = []
    for chunk, start in enumerate(range(0, len(ordered), MAX_EVENTS_PER_DELIVERY)):
        payloads.append(
            {
                "id": delivery_id(monitor_id, header["hash"], removed, chunk, generation),
                "monitor_id": monitor_id,
                "chain_id": chain_id,
                "block": dict(header),
                "removed": bool(removed),
                "events": ordered[start : start + MAX_EVENTS_PER_DELIVERY],
            }
        )
    return payloads


def numbered(payload: Mapping, sequence: int) -> dict:
    """The payload with its `sequence` (after `chain_id`, as documented), given when it is recorded
    (store/deliveries.py): 1, 2, 3, ... per (monitor, chain) with no gaps."""
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise ValueError(f"a delivery sequence is a positive integer, got {sequence!r}")
    body = {}
    for name, value in payload.items():
        if name != "sequence":
            body[name] = value
        if name == "chain_id":
            body["sequence"] = sequence
    if "sequence" not in body:
        raise ValueError("a payload without chain_id cannot be numbered")
    return body


def encode_body(payload: Mapping) -> bytes:
    """Compact UTF-8 JSON in the key order given; the exact bytes that are signed and sent.

    NaN and infinity are refused (ValueError): they are not JSON and receivers would reject them.
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
