"""The messages on the `blocks` topic: one versioned JSON document per block.

`{"v": 1, "type": "block", "chain_id", "number", "hash", "parent_hash", "timestamp",
"chunk", "chunks", "events": [...]}` or `{"v": 1, "type": "revert", "chain_id", "number",
"hash"}`. A block whose document would pass MAX_MESSAGE_BYTES is split into chunks of
the same block (numbered from 0), so no message exceeds the broker's 1 MB default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 900_000


class MalformedMessage(ValueError):
    """A record on the topic that is not a message of this codec."""


@dataclass(frozen=True)
class BlockHeader:
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int

    def as_payload_block(self) -> dict[str, Any]:
        return {"number": self.number, "hash": self.hash, "parent_hash": self.parent_hash, "timestamp": self.timestamp}


@dataclass(frozen=True)
class BlockMessage:
    header: BlockHeader
    chunk: int
    chunks: int
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RevertMessage:
    chain_id: int
    number: int
    hash: str


def message_key(chain_id: int) -> bytes:
    # Keyed by chain: every block of a chain lands on one partition, in order.
    return str(chain_id).encode()


def encode_block(header: BlockHeader, events: Sequence[Mapping[str, Any]], limit: int = MAX_MESSAGE_BYTES) -> list[bytes]:
    """The block as one message, or as several chunks when it is too large for one."""
    encoded_events = [json.dumps(event, separators=(",", ":")).encode() for event in events]
    groups: list[list[bytes]] = [[]]
    size = 0
    budget = limit - 512  # room for the envelope
    for event in encoded_events:
        if groups[-1] and size + len(event) + 1 > budget:
            groups.append([])
            size = 0
        groups[-1].append(event)
        size += len(event) + 1
    return [_block_document(header, index, len(groups), group) for index, group in enumerate(groups)]


def _block_document(header: BlockHeader, chunk: int, chunks: int, events: list[bytes]) -> bytes:
    envelope = json.dumps(
        {
            "v": MESSAGE_VERSION,
            "type": "block",
            "chain_id": header.chain_id,
            "number": header.number,
            "hash": header.hash,
            "parent_hash": header.parent_hash,
            "timestamp": header.timestamp,
            "chunk": chunk,
            "chunks": chunks,
        },
        separators=(",", ":"),
    ).encode()
    # Splice the already-encoded events in: each event is serialised exactly once.
    return envelope[:-1] + b',"events":[' + b",".join(events) + b"]}"


def encode_revert(chain_id: int, number: int, block_hash: str) -> bytes:
    document = {"v": MESSAGE_VERSION, "type": "revert", "chain_id": chain_id, "number": number, "hash": block_hash}
    return json.dumps(document, separators=(",", ":")).encode()


def decode(value: bytes | str) -> BlockMessage | RevertMessage:
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedMessage(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedMessage("not a JSON object")
    if document.get("v") != MESSAGE_VERSION:
        raise MalformedMessage(f"unknown message version {document.get('v')!r}")
    try:
        if document["type"] == "revert":
            return RevertMessage(_int(document["chain_id"]), _int(document["number"]), _hash(document["hash"]))
        if document["type"] == "block":
            header = BlockHeader(
                chain_id=_int(document["chain_id"]),
                number=_int(document["number"]),
                hash=_hash(document["hash"]),
                parent_hash=_hash(document["parent_hash"]),
                timestamp=_int(document["timestamp"]),
            )
            events = document["events"]
            if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
                raise MalformedMessage("events is not a list of objects")
            return BlockMessage(header, _int(document.get("chunk", 0)), _int(document.get("chunks", 1)), events)
    except KeyError as missing:
        raise MalformedMessage(f"missing field {missing}") from None
    raise MalformedMessage(f"unknown message type {document.get('type')!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"expected an integer, got {value!r}")
    return value


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedMessage(f"expected a 0x-hex hash, got {value!r}")
    return value
