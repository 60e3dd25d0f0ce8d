"""The messages on the `blocks` topic: one versioned JSON document per block.

`{"v": 1, "type": "block", "chain_id", "number", "hash", "parent_hash", "timestamp",
"chunk", "chunks", "events": [...]}`, with `"backfill"` or `"reconcile": {"monitor_id", "job_id"}`
when it is a past block read again for one monitor; or `{"v": 1, "type": "revert", "chain_id", "number",
"hash"}`. A block whose document would pass MAX_MESSAGE_BYTES is split into chunks of
the same block (numbered from 0), so no message exceeds the broker's 1 MB default.

An event larger than MAX_INLINE_EVENT_BYTES (a log with megabytes of data) crosses as a claim
check: its stand-in keeps every field of STAND_IN_FIELD_BYTES or less (id, kind, parties, topics,
chain, block and transaction fields: all the matcher's filters read) and names, under `claim`,
the object that holds the whole event; `resolve_event` gives the event back.

A block's work is followed through the logs of ingest, matcher and deliveries by its correlation
id, `<chain_id>:<hash>` (`correlation_id`); a revert carries the id of the block it takes back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict

import msgspec
import orjson

from blockhook.chain.kinds import ADDRESS, fields_of_type
from blockhook.chain.reader import FINALITY_TAGS

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 900_000
# Far above nearly every event (a few hundred bytes), far below a message: a chunk still packs many events,
# and the matcher reads a large one only when a monitor may match it.
MAX_INLINE_EVENT_BYTES = 64 * 1024
STAND_IN_FIELD_BYTES = 1024
CLAIM_FIELD = "claim"


_EVENT_STRINGS = ("id", "kind")
_EVENT_INTEGERS = ("chain_id",)
_EVENT_OPTIONAL_INTEGERS = ("tx_index", "log_index")  # null on a withdrawal / the transaction kinds
# The matcher reads the addresses (parties, emitters) as strings.
_EVENT_OPTIONAL_STRINGS = tuple(sorted(fields_of_type(ADDRESS)))

# What _check_event accepts, as a type msgspec checks in C (other keys are allowed and ignored).
_CheckedEvent = TypedDict(
    "_CheckedEvent",
    {
        **{name: Required[str] for name in _EVENT_STRINGS},
        **{name: Required[int] for name in _EVENT_INTEGERS},
        **{name: int | None for name in _EVENT_OPTIONAL_INTEGERS},
        **{name: str | None for name in _EVENT_OPTIONAL_STRINGS},
        "topics": list[str] | None,
    },
    total=False,
)
_CHECKED_EVENTS = list[_CheckedEvent]


class MalformedMessage(ValueError):
    """A record on the topic that is not a message of this codec."""


class EventTooLarge(ValueError):
    """An event that cannot cross in a message, not even as a stand-in."""


class ClaimMismatch(ValueError):
    """A claim check whose object is not the event the stand-in stands for."""


@dataclass(frozen=True)
class BlockHeader:
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int

    def as_payload_block(self) -> dict[str, Any]:
        return {"number": self.number, "hash": self.hash, "parent_hash": self.parent_hash, "timestamp": self.timestamp}

    @property
    def correlation_id(self) -> str:
        return correlation_id(self.chain_id, self.hash)


@dataclass(frozen=True)
class BlockMessage:
    header: BlockHeader
    chunk: int
    chunks: int
    events: list[dict[str, Any]] = field(default_factory=list)
    # set: a past block replayed for one monitor alone (a ReconcileTarget: to compare, not to send)
    backfill: BackfillTarget | None = None
    has_stand_ins: bool = False  # some event is a claim check's stand-in (see `stand_in`)
    finality: dict[str, int] = field(default_factory=dict)  # the node's "safe"/"finalized" heads, when known


@dataclass(frozen=True)
class BackfillTarget:
    monitor_id: str
    job_id: str

    @property
    def field(self) -> str:
        """The message field that names it."""
        return "backfill"


@dataclass(frozen=True)
class ReconcileTarget(BackfillTarget):
    """A past block read again for one monitor's reconcile: compared with its deliveries, not sent."""

    @property
    def field(self) -> str:
        return "reconcile"


@dataclass(frozen=True)
class RevertMessage:
    chain_id: int
    number: int
    hash: str


def correlation_id(chain_id: int, block_hash: str) -> str:
    """The id of a block's work in the logs of every function, and in its delivery messages."""
    return f"{chain_id}:{block_hash}"


def correlation_id_of(value: bytes | str | None) -> str | None:
    """The correlation id of a message on the topic, or None when it is not one of this codec's.

    Read from the envelope alone: `_block_document` writes the events last, so a block's events
    (most of its bytes) are not parsed twice, once here and once by `decode`."""
    if not value:
        return None
    try:
        data = value.encode() if isinstance(value, str) else value
        events_at = data.find(b',"events":[')
        document = json.loads(data[:events_at] + b"}" if events_at >= 0 else data)
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return None
    if not isinstance(document, dict):
        return None
    chain_id, block_hash = document.get("chain_id"), document.get("hash")
    if type(chain_id) is not int or not isinstance(block_hash, str) or not block_hash.startswith("0x"):
        return None
    return correlation_id(chain_id, block_hash)


def message_key(chain_id: int) -> bytes:
    # Keyed by chain: every block of a chain lands on one partition, in order.
    return str(chain_id).encode()


def encode_block(
    header: BlockHeader,
    events: Sequence[Mapping[str, Any]],
    limit: int = MAX_MESSAGE_BYTES,
    backfill: BackfillTarget | None = None,
    claims: Callable[[bytes], str] | None = None,
    finality: Mapping[str, int | None] | None = None,
) -> list[bytes]:
    """The block as one message, or as several chunks when it is too large for one.

    `claims` stores an event too large to go inline and returns its key (see `stand_in`).
    `finality`: the node's `safe` and `finalized` heads when the block was read, which release the
    matches of monitors waiting for those tags."""
    budget = limit - 512  # room for the envelope
    tags = {tag: head for tag, head in (finality or {}).items() if tag in FINALITY_TAGS and head is not None}
    # The most one event can be and still go alone in a message (whatever its chunk numbers).
    room = limit - len(_block_document(header, 10**9, 10**9, [], backfill, tags))
    encoded_events = _with_claim_checks(events, [_encode_event(event) for event in events], claims, room)
    groups: list[list[bytes]] = [[]]
    size = 0
    for event in encoded_events:
        if groups[-1] and size + len(event) + 1 > budget:
            groups.append([])
            size = 0
        groups[-1].append(event)
        size += len(event) + 1
    return [_block_document(header, index, len(groups), group, backfill, tags) for index, group in enumerate(groups)]


def _with_claim_checks(
    events: Sequence[Mapping[str, Any]],
    encoded: list[bytes],
    claims: Callable[[bytes], str] | None,
    room: int,
) -> list[bytes]:
    """The encoded events, each one over MAX_INLINE_EVENT_BYTES (or `room`) replaced by its stand-in."""
    inline_limit = min(MAX_INLINE_EVENT_BYTES, room)
    for position, data in enumerate(encoded):
        if len(data) <= inline_limit:
            continue
        event = events[position]
        if claims is None:
            raise EventTooLarge(f"event {event.get('id')!r} is {len(data)} bytes and no claim store is configured")
        replaced = _encode_event(stand_in(event, claims(data), len(data)))
        if len(replaced) > room:
            raise EventTooLarge(f"event {event.get('id')!r}: even its stand-in is {len(replaced)} bytes")
        encoded[position] = replaced
    return encoded


def stand_in(event: Mapping[str, Any], key: str, size: int) -> dict[str, Any]:
    """What crosses in place of a large event: every field of STAND_IN_FIELD_BYTES or less (all the
    matcher's filters read), and `claim`, where the whole event is and how large it is."""
    kept = {name: value for name, value in event.items() if len(_encode_event(value)) <= STAND_IN_FIELD_BYTES}
    kept[CLAIM_FIELD] = {"key": key, "bytes": size}
    return kept


def is_stand_in(event: Mapping[str, Any]) -> bool:
    return CLAIM_FIELD in event


def resolve_event(event: Mapping[str, Any], fetch: Callable[[str], bytes]) -> dict[str, Any]:
    """The whole event a stand-in stands for (`fetch` reads a key); any other event as it is."""
    claim = event.get(CLAIM_FIELD)
    if claim is None:
        return dict(event)
    if not isinstance(claim, dict) or not isinstance(claim.get("key"), str):
        raise ClaimMismatch(f"event {event.get('id')!r}: claim is not {{key, bytes}}: {claim!r}")
    try:
        whole = _parse(fetch(claim["key"]))
    except (ValueError, RecursionError) as error:
        raise ClaimMismatch(f"event {event.get('id')!r}: {claim['key']} is not JSON: {error}") from None
    if not isinstance(whole, dict) or whole.get("id") != event.get("id") or CLAIM_FIELD in whole:
        raise ClaimMismatch(f"event {event.get('id')!r}: {claim['key']} holds another event")
    return whole


def _encode_event(event: Mapping[str, Any]) -> bytes:
    # orjson: about 7x faster than json.dumps on the ingest hot path (bench/results/profile_ingest.json),
    # same compact JSON; it refuses integers past 64 bits, which json.dumps writes exactly.
    try:
        return orjson.dumps(event)
    except TypeError:
        return json.dumps(event, separators=(",", ":")).encode()


def _block_document(
    header: BlockHeader,
    chunk: int,
    chunks: int,
    events: list[bytes],
    backfill: BackfillTarget | None,
    finality: Mapping[str, int] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "v": MESSAGE_VERSION,
        "type": "block",
        "chain_id": header.chain_id,
        "number": header.number,
        "hash": header.hash,
        "parent_hash": header.parent_hash,
        "timestamp": header.timestamp,
        "chunk": chunk,
        "chunks": chunks,
    }
    if backfill is not None:
        document[backfill.field] = {"monitor_id": backfill.monitor_id, "job_id": backfill.job_id}
    document.update(finality or {})
    envelope = json.dumps(document, separators=(",", ":")).encode()
    # Splice the already-encoded events in: each event is serialised exactly once.
    return envelope[:-1] + b',"events":[' + b",".join(events) + b"]}"


def encode_revert(chain_id: int, number: int, block_hash: str) -> bytes:
    document = {"v": MESSAGE_VERSION, "type": "revert", "chain_id": chain_id, "number": number, "hash": block_hash}
    return json.dumps(document, separators=(",", ":")).encode()


def _parse(value: Any) -> Any:
    """What json.loads(value) answers or raises, about 2x faster on block messages.

    msgspec parses standard JSON to the same values (integers of any size exactly, as json does;
    orjson would turn those past 64 bits into floats). Whatever it refuses goes to json.loads, which
    then decides: NaN and Infinity, lone surrogates, the UTF-16/32 and BOM-prefixed bytes json.loads
    detects, malformed input (so the errors are json's too)."""
    if isinstance(value, (bytes, str)):
        try:
            return msgspec.json.decode(value)
        except (ValueError, RecursionError):  # msgspec.DecodeError and UnicodeDecodeError are ValueErrors
            pass
    return json.loads(value)


def _check_events(events: list[Any]) -> None:
    """_check_event on every event: checked by msgspec in C in one go, which accepts exactly what
    _check_event accepts (bool is not an int to either); when it refuses, _check_event runs on each
    event in order and raises the error of the first bad one."""
    try:
        msgspec.convert(events, _CHECKED_EVENTS)
        return
    except (ValueError, RecursionError, TypeError):  # msgspec.ValidationError is a ValueError
        pass
    for event in events:
        _check_event(event)


def decode(value: bytes | str) -> BlockMessage | RevertMessage:
    try:
        document = _parse(value)
    # RecursionError: arrays nested thousands deep; TypeError: no value at all (a null record).
    except (ValueError, RecursionError, TypeError) as error:
        raise MalformedMessage(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedMessage("not a JSON object")
    version = document.get("v")
    if type(version) is not int or version != MESSAGE_VERSION:  # `true == 1` in Python
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
            if not isinstance(events, list):
                raise MalformedMessage("events is not a list")
            _check_events(events)
            chunk, chunks = _int(document.get("chunk", 0)), _int(document.get("chunks", 1))
            if not 0 <= chunk < chunks:
                raise MalformedMessage(f"chunk {chunk} of {chunks} is out of range")
            finality = {tag: _int(document[tag]) for tag in FINALITY_TAGS if document.get(tag) is not None}
            return BlockMessage(
                header, chunk, chunks, events, _target(document), _has_stand_ins(value, events),
                finality,
            )  # fmt: skip
    except KeyError as missing:
        raise MalformedMessage(f"missing field {missing}") from None
    raise MalformedMessage(f"unknown message type {document.get('type')!r}")


def _has_stand_ins(value: bytes | str, events: list[Any]) -> bool:
    """Whether some event is a stand-in; a stand-in whose claim is not {key, bytes} is malformed.

    A search of the raw message (in C) spares looking into every event of nearly every block; a
    string value holding the key would have its quotes escaped, so only a key can match."""
    marker = f'"{CLAIM_FIELD}":'
    if not ((marker.encode() in value) if isinstance(value, bytes) else (marker in value)):
        return False
    found = False
    for event in events:
        if CLAIM_FIELD not in event:
            continue
        claim = event[CLAIM_FIELD]
        if not (isinstance(claim, dict) and isinstance(claim.get("key"), str) and type(claim.get("bytes")) is int):
            raise MalformedMessage(f"event {event.get('id')!r}: claim is not {{key, bytes}}: {claim!r}")
        found = True
    return found


def _target(document: dict) -> BackfillTarget | None:
    if document.get("reconcile") is not None:
        target = _backfill(document["reconcile"], "reconcile")
        return ReconcileTarget(target.monitor_id, target.job_id)
    return _backfill(document.get("backfill"))


def _backfill(value: Any, field: str = "backfill") -> BackfillTarget | None:
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("monitor_id"), str)
        or not isinstance(value.get("job_id"), str)
    ):
        raise MalformedMessage(f"{field} is not {{monitor_id, job_id}}: {value!r}")
    return BackfillTarget(value["monitor_id"], value["job_id"])


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"expected an integer, got {value!r}")
    return value


def _check_event(event: Any) -> None:
    # The matcher hashes and compares these fields, the delivery sorts by the indexes: a value
    # of the wrong type would crash the whole batch (and every retry of it) further on.
    if not isinstance(event, dict):
        raise MalformedMessage("an event is not an object")
    for name in _EVENT_STRINGS:
        if not isinstance(event.get(name), str):
            raise MalformedMessage(f"event {name} is not a string: {event.get(name)!r}")
    for name in (*_EVENT_INTEGERS, *_EVENT_OPTIONAL_INTEGERS):
        value = event.get(name)
        if (value is not None or name in _EVENT_INTEGERS) and (type(value) is not int):
            raise MalformedMessage(f"event {name} is not an integer: {value!r}")
    for name in _EVENT_OPTIONAL_STRINGS:
        if event.get(name) is not None and not isinstance(event[name], str):
            raise MalformedMessage(f"event {name} is not a string: {event[name]!r}")
    topics = event.get("topics")
    if topics is not None and not (isinstance(topics, list) and all(isinstance(topic, str) for topic in topics)):
        raise MalformedMessage(f"event topics is not a list of strings: {topics!r}")


def _hash(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedMessage(f"expected a 0x-hex hash, got {value!r}")
    return value
