"""The messages on the `blocks` topic: one versioned JSON document per block.

Version 2, what ingest writes, puts each block's addresses first, so that the matcher can tell
from a few kilobytes that no monitor can match any of its events and never read the events
themselves (most of the bytes):

    {"v": 2, "layout": [A, E, T], "type": "block", "chain_id", "number", "hash", "parent_hash",
     "timestamp", "chunk", "chunks", ["backfill" | "reconcile"], ["safe", "finalized"],
     "event_count", "chain_ids", "kinds", "stand_ins", "addresses": [...],      <- bytes [0, A)
     "positions": [[...], ...], "offsets": [...], "events": [                    <- bytes [A, E)
     ...events...]}                                                              <- bytes [E, T)

`layout` is written with fixed-width numbers (padded with spaces, which JSON allows), so a reader
knows where each section ends from the first V2_PREAMBLE_BYTES bytes: the header (bytes 0 to A,
closed by a `}`, is a JSON object of its own), the columns (A to E) and the events (E to T, the
message's length). `addresses` holds every address that is a party (chain/kinds.py `parties`) or
the emitter of an event of the message, each once; `positions[i]` the events (by their place in
`events`) `addresses[i]` is a party or the emitter of; `offsets[k]` where event k starts, counted
from E (one more entry: the end of the last event plus one); `kinds` and `chain_ids` every kind and
chain id among the events; `stand_ins` the places of the events that are claim checks'
stand-ins. The whole message is still one JSON document. A revert is `{"v": 2, "type": "revert",
"chain_id", "number", "hash"}`. Version 1 (`{"v": 1, "type": "block", ..., "events": [...]}`, the
same fields without the columns) is still read, so the messages ingest wrote before an upgrade
match exactly as they did.

A block whose document would pass MAX_MESSAGE_BYTES is split into chunks of the same block
(numbered from 0), so no message exceeds the broker's 1 MB default.

An event larger than MAX_INLINE_EVENT_BYTES (a log with megabytes of data) crosses as a claim
check: its stand-in keeps every field of STAND_IN_FIELD_BYTES or less (id, kind, parties, topics,
chain, block and transaction fields: all the matcher's filters read) and names, under `claim`,
the object that holds the whole event; `resolve_event` gives the event back.

A block's work is followed through the logs of ingest, matcher and deliveries by its correlation
id, `<chain_id>:<hash>` (`correlation_id`); a revert carries the id of the block it takes back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict

import msgspec
import orjson

from blockhook.chain.kinds import ADDRESS, EMITTER_FIELDS, PARTY_FIELDS, fields_of_type
from blockhook.chain.reader import FINALITY_TAGS
from blockhook.jsonparse import loads as parse_json

MESSAGE_VERSION = 2  # what encode_block and encode_revert write
READABLE_VERSIONS = (1, 2)
_V2_PREFIX = b'{"v":2,"layout":['
_LAYOUT_DIGITS = 10
V2_PREAMBLE_BYTES = len(_V2_PREFIX) + 3 * _LAYOUT_DIGITS + 2 + 2  # the prefix, A,E,T and `],`
_V2_EVENTS_OPEN = b',"events":['
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
    # Set when read with decode(lazy=True) from a version 2 message: `events` is then read on demand,
    # and the columns give the events a set of addresses can match without reading the others.
    columns: EventColumns | None = None


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


def correlation_id_of(value: bytes | str | Base64Value | None) -> str | None:
    """The correlation id of a message on the topic, or None when it is not one of this codec's.

    Read from the envelope alone: the events (most of a block's bytes) come last in both versions,
    so they are not parsed twice, once here and once by `decode`; of a version 2 message given as
    base64, only the header is decoded (and kept for `decode`)."""
    if isinstance(value, Base64Value):
        layout = _v2_layout(value)
        try:
            value = value.read(0, layout[0]) if layout is not None and value.holds(layout[2]) else value.whole()
        except ValueError:
            return None
    if not value:
        return None
    try:
        data = value.encode() if isinstance(value, str) else value
        envelope_end = data.find(b',"event_count":' if data.startswith(_V2_PREFIX) else _V2_EVENTS_OPEN)
        document = json.loads(data[:envelope_end] + b"}" if envelope_end >= 0 else data)
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
    version: int = MESSAGE_VERSION,
) -> list[bytes]:
    """The block as one message, or as several chunks when it is too large for one.

    `claims` stores an event too large to go inline and returns its key (see `stand_in`).
    `finality`: the node's `safe` and `finalized` heads when the block was read, which release the
    matches of monitors waiting for those tags. `version`: 1 writes the messages of before the
    address columns (for tests and tools that must produce them)."""
    if version not in READABLE_VERSIONS:
        raise ValueError(f"no message version {version!r}")
    tags = {tag: head for tag, head in (finality or {}).items() if tag in FINALITY_TAGS and head is not None}
    encoded = _Encoded(header, events, columns=version == 2)

    def message(chunk: int, chunks: int, part: range) -> bytes:
        envelope = _envelope(header, chunk, chunks, backfill, tags)
        if version == 1:
            return _v1_message(envelope, encoded.data[part.start : part.stop])
        return _v2_message(envelope, encoded, part)

    # The most one event can be and still go alone in a message (whatever its chunk numbers).
    room = limit - len(message(10**9, 10**9, range(0)))
    for position, data in enumerate(encoded.data):
        fits = room - encoded.costs[position]
        if len(data) > min(MAX_INLINE_EVENT_BYTES, fits):
            encoded.claim_check(position, claims, fits)
    budget = limit - 512  # room for the envelope
    parts: list[range] = []
    first, size = 0, 0
    for position, (data, cost) in enumerate(zip(encoded.data, encoded.costs, strict=True)):
        cost += len(data) + 1
        if position > first and size + cost > budget:
            parts.append(range(first, position))
            first, size = position, 0
        size += cost
    parts.append(range(first, len(encoded.data)))
    if version == 2:
        # The column cost above is an estimate: a part it underestimated is halved until it fits,
        # sized with the widest chunk numbers (its columns are computed once, whatever its numbers).
        fitted: list[range] = []
        pending = parts[::-1]
        while pending:
            part = pending.pop()
            if len(part) <= 1 or len(message(10**9, 10**9, part)) <= limit:
                fitted.append(part)
                continue
            middle = len(part) // 2
            pending += [part[middle:], part[:middle]]
        parts = fitted
    messages = [message(index, len(parts), part) for index, part in enumerate(parts)]
    for part, data in zip(parts, messages, strict=True):
        if len(data) > limit:
            raise EventTooLarge(f"event {events[part[0]].get('id')!r} does not fit a message with its columns")
    return messages


_OWN_BLOCK_FIELDS = "own_block_fields"  # also the header's list of the events written whole


def _block_fields(header: BlockHeader) -> dict[str, Any]:
    return {"chain_id": header.chain_id, "block_number": header.number, "block_hash": header.hash,
            "block_timestamp": header.timestamp}  # fmt: skip


def _with_block_fields(event: Any, block: dict[str, Any]) -> Any:
    """An event of a version 2 message as it was made (see `_v2_entries`)."""
    if not isinstance(event, dict):
        return event
    return {"id": None, "kind": None, **block, **event}


# Per kind, the fields whose addresses an event's columns list: its parties, then its emitter.
_COLUMN_FIELDS = {
    kind: tuple(dict.fromkeys((*names, EMITTER_FIELDS[kind]) if kind in EMITTER_FIELDS else names))
    for kind, names in PARTY_FIELDS.items()
}


def _column_addresses(event: Mapping[str, Any]) -> list[str]:
    """The addresses of an event the matcher looks up: its parties and its emitter, each once."""
    kind = event.get("kind")
    found: list[str] = []
    for name in _COLUMN_FIELDS.get(kind, ()) if isinstance(kind, str) else ():
        value = event.get(name)
        if isinstance(value, str) and value and value not in found:
            found.append(value)
    return found


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
        whole = parse_json(fetch(claim["key"]))
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


class _Encoded:
    """A block's events as its messages write them, each encoded once, and what its columns take from
    each (lists by position: this runs on every event of every block).

    Version 2 cuts an event's block fields out of its JSON when they are the block's and come right
    after id and kind, as chain/events.py makes every event (so `_with_block_fields` gives back the
    same fields in the same order): when the event's JSON begins as `{"id":..,"kind":..}` does, and
    the block's fields as written (`,"chain_id":1,"block_number":...`) follow."""

    def __init__(self, header: BlockHeader, events: Sequence[Mapping[str, Any]], columns: bool) -> None:
        self.events = events
        self.whole = [_encode_event(event) for event in events]  # the events as they were made
        self.data = list(self.whole)  # as the messages write them
        self.own_block_fields = [True] * len(events)
        self.stand_ins: set[int] = set()
        self._columns: dict[range, tuple[bytes, bytes]] = {}
        # Per event, its addresses in the columns, and about what it adds to them at most (in ASCII).
        self.addresses: list[list[str]] = [[] for _ in events]
        self.costs = [0] * len(events)
        if columns:
            self._column_events(header)

    def _column_events(self, header: BlockHeader) -> None:
        fields = b"," + _encode_event(_block_fields(header))[1:-1]
        width = len(fields)
        for position, event in enumerate(self.events):
            kind = event.get("kind")
            self.addresses[position] = found = _column_addresses(event)
            self.costs[position] = (64 + (len(kind) if isinstance(kind, str) else 0)
                                    + sum(map(len, found)) + 16 * len(found))  # fmt: skip
            whole = self.whole[position]
            start = _encode_event({"id": event.get("id"), "kind": kind})[:-1]
            if whole.startswith(start) and whole.startswith(fields, len(start)):
                self.data[position] = start + whole[len(start) + width :]
                self.own_block_fields[position] = False

    def claim_check(self, position: int, claims: Callable[[bytes], str] | None, fits: int) -> None:
        """Replace the event by its stand-in (written whole); the claim's object is the whole event."""
        event, whole = self.events[position], self.whole[position]
        if claims is None:
            raise EventTooLarge(f"event {event.get('id')!r} is {len(self.data[position])} bytes and no claim store is configured")
        replaced = _encode_event(stand_in(event, claims(whole), len(whole)))
        if len(replaced) > fits:
            raise EventTooLarge(f"event {event.get('id')!r}: even its stand-in is {len(replaced)} bytes")
        self.data[position], self.own_block_fields[position] = replaced, True
        self.stand_ins.add(position)

    def columns(self, part: range) -> tuple[bytes, bytes]:
        """The header's fields after the envelope for the events of `part`, and their positions and
        offsets (each without braces); computed once a part, whatever its chunk numbers."""
        found = self._columns.get(part)
        if found is not None:
            return found
        addresses: dict[str, list[int]] = {}
        kinds: dict[str, None] = {}
        chain_ids: dict[int, None] = {}
        stand_ins, own_block_fields, offsets = [], [], [0]
        for place, position in enumerate(part):
            if self.own_block_fields[position]:
                own_block_fields.append(place)
            event = self.events[position]
            if position in self.stand_ins or CLAIM_FIELD in event:  # replaced here, or given as one
                stand_ins.append(place)
            for address in self.addresses[position]:
                addresses.setdefault(address, []).append(place)
            kind, chain_id = event.get("kind"), event.get("chain_id")
            if isinstance(kind, str):
                kinds[kind] = None
            if type(chain_id) is int:
                chain_ids[chain_id] = None
            offsets.append(offsets[-1] + len(self.data[position]) + 1)
        head = _encode_event({"event_count": len(part), "chain_ids": list(chain_ids), "kinds": list(kinds),
                              "stand_ins": stand_ins, "own_block_fields": own_block_fields,
                              "addresses": list(addresses)})  # fmt: skip
        columns = _encode_event({"positions": list(addresses.values()), "offsets": offsets})
        self._columns[part] = found = head[1:-1], columns[1:-1]
        return found


def _envelope(header: BlockHeader, chunk: int, chunks: int, backfill: BackfillTarget | None,
              finality: Mapping[str, int]) -> dict[str, Any]:  # fmt: skip
    document: dict[str, Any] = {
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
    document.update(finality)
    return document


def _v1_message(envelope: dict[str, Any], encoded: list[bytes]) -> bytes:
    # Splice the already-encoded events in: each event is serialised exactly once.
    data = json.dumps({"v": 1, **envelope}, separators=(",", ":")).encode()
    return data[:-1] + _V2_EVENTS_OPEN + b",".join(encoded) + b"]}"


def _v2_message(envelope: dict[str, Any], encoded: _Encoded, part: range) -> bytes:
    fields, columns = encoded.columns(part)
    head = _encode_event(envelope)[1:-1] + b"," + fields
    joined = b",".join(encoded.data[part.start : part.stop])
    head_end = V2_PREAMBLE_BYTES + len(head)
    events_at = head_end + len(columns) + 1 + len(_V2_EVENTS_OPEN)
    total = events_at + len(joined) + 2
    layout = b",".join(str(n).rjust(_LAYOUT_DIGITS).encode() for n in (head_end, events_at, total))
    message = b"".join((_V2_PREFIX, layout, b"],", head, b",", columns, _V2_EVENTS_OPEN, joined, b"]}"))
    assert len(message) == total, (len(message), total)
    return message


def encode_revert(chain_id: int, number: int, block_hash: str, version: int = MESSAGE_VERSION) -> bytes:
    if version not in READABLE_VERSIONS:
        raise ValueError(f"no message version {version!r}")
    document = {"v": version, "type": "revert", "chain_id": chain_id, "number": number, "hash": block_hash}
    return json.dumps(document, separators=(",", ":")).encode()


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


def decode(value: bytes | str | Base64Value, lazy: bool = False) -> BlockMessage | RevertMessage:
    """The message a record holds; MalformedMessage when it is not one of this codec's.

    `lazy`: a live block of version 2 comes back with its header and columns read and its events
    not (`BlockMessage.columns`); an event is read, and checked, when it is asked for. Otherwise
    (and for every version 1 message, backfill, reconcile and revert) the whole message is read and
    every event checked."""
    if lazy:
        message = _decode_lazily(value)
        if message is not None:
            return message
    if isinstance(value, Base64Value):
        try:
            value = value.whole()
        except ValueError as error:  # binascii.Error
            raise MalformedMessage(f"not base64: {error}") from None
    try:
        document = parse_json(value)
    # RecursionError: arrays nested thousands deep; TypeError: no value at all (a null record).
    except (ValueError, RecursionError, TypeError) as error:
        raise MalformedMessage(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedMessage("not a JSON object")
    version = document.get("v")
    if type(version) is not int or version not in READABLE_VERSIONS:  # `true == 1` in Python
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
            if version == 2:
                events = _with_v2_block_fields(document, header, events)
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


class Base64Value:
    """A record's value as Lambda's Kafka event carries it, base64 text, decoded only where it is read:
    the matcher reads a version 2 message's header and columns, and the few events a monitor may
    match, and never decodes the rest. Base64 maps every 3 bytes to 4 characters, so bytes [a, b)
    are characters [4*(a//3), 4*ceil(b/3)) of standard base64 with no line breaks, the form MSK
    sends (a version 2 message also gives its length, which the text's length is checked against;
    anything else is decoded whole, as base64.b64decode reads it)."""

    __slots__ = ("text", "_whole", "_start", "_read")

    def __init__(self, text: str | None) -> None:
        self.text = text if isinstance(text, str) else ""
        self._whole: bytes | None = None
        self._start, self._read = 0, b""  # the last range decoded

    def whole(self) -> bytes:
        """All of it (ValueError when it is not base64)."""
        if self._whole is None:
            self._whole = base64.b64decode(self.text)
        return self._whole

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end), decoding only the characters that hold them (ValueError when they are
        not base64)."""
        if self._whole is not None:
            return self._whole[start:end]
        if self._start <= start and end <= self._start + len(self._read):
            return self._read[start - self._start : end - self._start]
        first, last = start // 3, -(-end // 3)
        self._start = first * 3
        self._read = binascii.a2b_base64(self.text[first * 4 : last * 4], strict_mode=True)
        return self._read[start - self._start : end - self._start]

    def holds(self, length: int) -> bool:
        """Whether the text is exactly the base64 of `length` bytes (so `read` finds them in place)."""
        return len(self.text) == -(-length // 3) * 4


class _BytesSource:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]


class _Head(msgspec.Struct, kw_only=True):
    """The header of a version 2 block message (bytes [0, A)), checked in C as it is parsed."""

    layout: tuple[int, int, int]
    type: str
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    chunk: int = 0
    chunks: int = 1
    backfill: Any = None
    reconcile: Any = None
    safe: int | None = None
    finalized: int | None = None
    event_count: int
    chain_ids: list[int]
    kinds: list[str]
    stand_ins: list[int]
    own_block_fields: list[int]
    addresses: list[str]


class _Columns(msgspec.Struct):
    positions: list[msgspec.Raw]  # each parsed only for an address that is asked for
    offsets: list[int]


_HEAD = msgspec.json.Decoder(_Head)
_COLUMNS = msgspec.json.Decoder(_Columns)
_PLACES = msgspec.json.Decoder(list[int])


class EventColumns:
    """What the columns of a version 2 block message say about its events, and the events read on
    demand: `addresses` (every party and emitter, each once), `kinds`, `chain_ids`, `count`."""

    def __init__(self, source: Any, head: _Head) -> None:
        self._source = source
        self._head_end, self._events_at, self._end = head.layout
        self.addresses = head.addresses
        self.kinds = frozenset(head.kinds)
        self.chain_ids = frozenset(head.chain_ids)
        self.count = head.event_count
        self._stand_ins = frozenset(head.stand_ins)
        self._own_block_fields = frozenset(head.own_block_fields)
        self._block = {"chain_id": head.chain_id, "block_number": head.number, "block_hash": head.hash,
                       "block_timestamp": head.timestamp}  # fmt: skip
        self._columns: _Columns | None = None
        self._all: list[dict[str, Any]] | None = None

    def events_of(self, addresses: Collection[str]) -> list[dict[str, Any]]:
        """The events (checked) that one of `addresses` is a party or the emitter of, in order."""
        columns = self._read_columns()
        places: set[int] = set()
        column = self.addresses
        for address in addresses:
            try:
                at = column.index(address)
            except ValueError:  # not among the message's addresses
                continue
            try:
                places.update(_PLACES.decode(columns.positions[at]))
            except (ValueError, RecursionError) as error:
                raise MalformedMessage(f"positions of {address}: {error}") from None
        if not places:
            return []
        if self._all is not None:
            return [self._all[place] for place in sorted(places)]
        events = []
        offsets, base = columns.offsets, self._events_at
        for place in sorted(places):
            if not 0 <= place < self.count:
                raise MalformedMessage(f"an address column names event {place} of {self.count}")
            try:
                event = parse_json(self._source.read(base + offsets[place], base + offsets[place + 1] - 1))
                events.append(event if place in self._own_block_fields else _with_block_fields(event, self._block))
            except (ValueError, RecursionError) as error:
                raise MalformedMessage(f"event {place} is not JSON: {error}") from None
        self._check(events, [place in self._stand_ins for place in sorted(places)])
        return events

    def all_events(self) -> list[dict[str, Any]]:
        """Every event (checked), in order."""
        if self._all is None:
            try:
                events = parse_json(self._source.read(self._events_at - 1, self._end - 1))
            except (ValueError, RecursionError) as error:
                raise MalformedMessage(f"events are not JSON: {error}") from None
            if not isinstance(events, list) or len(events) != self.count:
                raise MalformedMessage(f"events are not a list of event_count ({self.count}) events")
            own, block = self._own_block_fields, self._block
            events = [event if place in own else _with_block_fields(event, block) for place, event in enumerate(events)]
            self._check(events, [place in self._stand_ins for place in range(len(events))])
            self._all = events
        return self._all

    def _read_columns(self) -> _Columns:
        if self._columns is None:
            middle = self._source.read(self._head_end + 1, self._events_at - len(_V2_EVENTS_OPEN))
            try:
                columns = _COLUMNS.decode(b"{" + middle + b"}")
            except (ValueError, RecursionError) as error:
                raise MalformedMessage(f"columns: {error}") from None
            if len(columns.positions) != len(self.addresses) or len(columns.offsets) != self.count + 1:
                raise MalformedMessage("the columns do not match the addresses and events")
            self._columns = columns
        return self._columns

    @staticmethod
    def _check(events: list[Any], stand_ins: list[bool]) -> None:
        _check_events(events)
        for event, standing in zip(events, stand_ins, strict=True):
            if standing != (CLAIM_FIELD in event):
                raise MalformedMessage(f"event {event.get('id')!r}: stand_ins does not say what it is")
        _check_claims([event for event, standing in zip(events, stand_ins, strict=True) if standing])


class _LazyEvents(Sequence):
    """A version 2 message's events, read (all at once) only when something asks for them."""

    def __init__(self, columns: EventColumns) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return self._columns.count

    def __getitem__(self, index):  # type: ignore[override]
        return self._columns.all_events()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._columns.all_events())

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, (list, _LazyEvents)) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _v2_layout(source: Any) -> tuple[int, int, int] | None:
    """(A, E, T) of a version 2 block message, or None when the value is not one."""
    try:
        preamble = source.read(0, V2_PREAMBLE_BYTES)
    except ValueError:
        return None
    if not preamble.startswith(_V2_PREFIX) or not preamble.endswith(b"],"):
        return None
    try:
        head_end, events_at, end = (int(n) for n in preamble[len(_V2_PREFIX) : -2].split(b","))
    except ValueError:
        return None
    if not V2_PREAMBLE_BYTES < head_end < events_at < end:
        return None
    return head_end, events_at, end


def _decode_lazily(value: bytes | str | Base64Value) -> BlockMessage | None:
    """A live version 2 block read lazily, or None: read it whole (`decode`)."""
    if isinstance(value, Base64Value):
        source: Any = value
        layout = _v2_layout(source)
        if layout is None or not value.holds(layout[2]):
            return None
    else:
        source = _BytesSource(value.encode() if isinstance(value, str) else value)
        layout = _v2_layout(source)
        if layout is None or len(source.data) != layout[2]:
            return None
    try:
        head = _HEAD.decode(source.read(0, layout[0]) + b"}")
    except (ValueError, RecursionError):
        return None  # decode says what is wrong with it
    if head.type != "block" or head.backfill is not None or head.reconcile is not None or head.layout != layout:
        return None
    header = BlockHeader(head.chain_id, head.number, _hash(head.hash), _hash(head.parent_hash), head.timestamp)
    if not 0 <= head.chunk < head.chunks:
        raise MalformedMessage(f"chunk {head.chunk} of {head.chunks} is out of range")
    finality = {tag: getattr(head, tag) for tag in FINALITY_TAGS if getattr(head, tag) is not None}
    columns = EventColumns(source, head)
    return BlockMessage(header, head.chunk, head.chunks, _LazyEvents(columns), None, bool(head.stand_ins), finality,
                        columns)  # fmt: skip


def _has_stand_ins(value: bytes | str, events: list[Any]) -> bool:
    """Whether some event is a stand-in; a stand-in whose claim is not {key, bytes} is malformed.

    A search of the raw message (in C) spares looking into every event of nearly every block; a
    string value holding the key would have its quotes escaped, so only a key can match."""
    marker = f'"{CLAIM_FIELD}":'
    if not ((marker.encode() in value) if isinstance(value, bytes) else (marker in value)):
        return False
    return _check_claims(events)


def _check_claims(events: list[Any]) -> bool:
    """Whether some event is a stand-in; MalformedMessage for one whose claim is not {key, bytes}."""
    found = False
    for event in events:
        if CLAIM_FIELD not in event:
            continue
        claim = event[CLAIM_FIELD]
        if not (isinstance(claim, dict) and isinstance(claim.get("key"), str) and type(claim.get("bytes")) is int):
            raise MalformedMessage(f"event {event.get('id')!r}: claim is not {{key, bytes}}: {claim!r}")
        found = True
    return found


def _with_v2_block_fields(document: dict, header: BlockHeader, events: list[Any]) -> list[Any]:
    own = document.get(_OWN_BLOCK_FIELDS)
    if not isinstance(own, list) or not all(type(place) is int for place in own):
        raise MalformedMessage(f"{_OWN_BLOCK_FIELDS} is not a list of integers: {own!r}")
    own_set, block = set(own), _block_fields(header)
    return [event if place in own_set else _with_block_fields(event, block) for place, event in enumerate(events)]


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
