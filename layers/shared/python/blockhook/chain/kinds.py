"""The event kinds and their fields: the one description every other part derives from.

chain/events.py builds events of these shapes; the matcher reads the parties and emitters named
here; the codec checks the fields the matcher reads; conditions know the fields and their types
from here; the API lists the kinds from here; docs/events.md is generated from here
(`python -m blockhook.chain.kinds docs/events.md`, checked by a test).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Field types: what a value of the field is in an event (JSON).
ADDRESS = "address"  # lowercase 0x-hex, 20 bytes
HASH = "hash"  # lowercase 0x-hex, 32 bytes
SELECTOR = "selector"  # lowercase 0x-hex, 4 bytes
HEX = "hex"  # lowercase 0x-hex bytes of any length
AMOUNT = "amount"  # decimal string of an unsigned 256-bit integer
INTEGER = "integer"
STRING = "string"
TOPICS = "topics"  # list of lowercase 0x-hex 32-byte words
ADDRESSES = "addresses"  # list of addresses
LABELS = "labels"  # object: address -> its label
ARGS = "args"  # object: a decoded log's arguments by name

_JSON_TYPES = {
    ADDRESS: {"type": "string", "pattern": "^0x[0-9a-f]{40}$"},
    HASH: {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
    SELECTOR: {"type": "string", "pattern": "^0x[0-9a-f]{8}$"},
    HEX: {"type": "string", "pattern": "^0x([0-9a-f]{2})*$"},
    AMOUNT: {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
    INTEGER: {"type": "integer"},
    STRING: {"type": "string"},
    TOPICS: {"type": "array", "items": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"}},
    ADDRESSES: {"type": "array", "items": {"type": "string", "pattern": "^0x[0-9a-f]{40}$"}},
    LABELS: {
        "type": "object",
        "propertyNames": {"pattern": "^0x[0-9a-f]{40}$"},
        "additionalProperties": {"type": "string"},
    },
    ARGS: {"type": "object"},
}
# Types whose values are lowercase hex: a condition compares them with its string literals lowercased.
HEX_TYPES = frozenset({ADDRESS, HASH, SELECTOR})


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    nullable: bool = False
    sample: Any = None  # a value of this field in the sample event of its kind

    def json_schema(self) -> dict[str, Any]:
        schema = dict(_JSON_TYPES[self.type])
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class Kind:
    name: str
    source: str  # which part of a block makes events of this kind
    fields: tuple[Field, ...]  # beside the common ones
    parties: tuple[str, ...]  # fields an address-list monitor matches on
    emitter: str | None = None  # the field `contracts` compares with
    level: str = "transaction"  # "transaction", "log" or "block": which of tx_hash/tx_index/log_index are set
    default: bool = True  # in a monitor's kinds when it names none
    needs_traces: bool = False  # only on chains whose node serves call traces

    def field(self, name: str) -> Field:
        for field in (*COMMON_FIELDS, *self.fields):
            if field.name == name:
                return field
        raise KeyError(name)

    def all_fields(self) -> tuple[Field, ...]:
        """The common fields as this kind has them (nullable where its level leaves them null), then its own."""
        common = []
        for field in COMMON_FIELDS:
            if field.name in _NULL_AT_LEVEL[self.level]:
                field = Field(field.name, field.type, field.description, True, None)
            common.append(field)
        return (*common, *self.fields)

    def sample(self, **overrides: Any) -> dict[str, Any]:
        """An event of this kind with every field set to its sample value (conditions are tried on these)."""
        event = {field.name: field.sample for field in self.all_fields()}
        event["kind"] = self.name
        event["id"] = f"1:{_H}:withdrawal:70" if self.level == "block" else _SAMPLE_IDS[self.level] + self.name
        event.update(overrides)
        return event


_A = "0x" + "ab" * 20
_B = "0x" + "cd" * 20
_H = "0x" + "ef" * 32
_SAMPLE_IDS = {
    "transaction": f"1:{_H}:0:tx:",
    "log": f"1:{_H}:0:0:",
}
_NULL_AT_LEVEL = {"transaction": {"log_index"}, "log": set(), "block": {"tx_hash", "tx_index", "log_index"}}

COMMON_FIELDS: tuple[Field, ...] = (
    Field("id", STRING, "Stable and unique: the same event of the same block always has the same id", sample="1:0x..."),
    Field("kind", STRING, "The event's kind", sample="transaction"),
    Field("chain_id", INTEGER, "The chain's id", sample=1),
    Field("block_number", INTEGER, "Number of the block holding the event", sample=21000000),
    Field("block_hash", HASH, "Hash of the block holding the event", sample=_H),
    Field("block_timestamp", INTEGER, "The block's timestamp, unix seconds", sample=1730000000),
    Field("tx_hash", HASH, "The transaction's hash; null for a withdrawal", sample=_H),
    Field("tx_index", INTEGER, "The transaction's position in the block; null for a withdrawal", sample=0),
    Field("log_index", INTEGER, "The log's position in the block; null for the transaction and withdrawal kinds",
          sample=0),
)  # fmt: skip
COMMON_NAMES = tuple(field.name for field in COMMON_FIELDS)

def _token_kind(name: str, source: str, *amounts: Field, operator: bool = False) -> Kind:
    """A token standard's transfer: the log's emitter as `token`, its parties `from` and `to`."""
    fields = (
        Field("token", ADDRESS, "The token contract (the log's emitter)", sample=_B),
        *([Field("operator", ADDRESS, "The account that made the transfer", sample=_A)] if operator else []),
        Field("from", ADDRESS, "The sender; the zero address on a mint", sample=_A),
        Field("to", ADDRESS, "The recipient; the zero address on a burn", sample=_B),
        *amounts,
    )
    return Kind(name, source, fields, parties=("from", "to"), emitter="token", level="log")


KINDS: tuple[Kind, ...] = (
    Kind(
        "transaction",
        "every transaction",
        (
            Field("from", ADDRESS, "The sender", sample=_A),
            Field("to", ADDRESS, "The recipient; null on a contract creation", nullable=True, sample=_B),
            Field("value", AMOUNT, "Wei sent with the transaction (moved only if it did not fail)", sample="1000"),
            Field("selector", SELECTOR, "First 4 bytes of the input; null when shorter", nullable=True,
                  sample="0xa9059cbb"),
            Field("status", INTEGER, "1 succeeded, 0 failed; null where the receipt has none (before Byzantium)",
                  nullable=True, sample=1),
            Field("gas_used", INTEGER, "Gas the transaction used", sample=21000),
            Field("contract_address", ADDRESS, "The contract a creation made; else null", nullable=True, sample=_B),
            Field("type", INTEGER, "The EIP-2718 transaction type (0 legacy, 1, 2, 3, 4, ...)", sample=2),
        ),
        parties=("from", "to", "contract_address"),
    ),
    Kind(
        "native_transfer",
        "a transaction with value > 0 that did not fail (status 1, or no status before Byzantium); a failed "
        "transaction moves no value and makes no native_transfer",
        (
            Field("from", ADDRESS, "The sender", sample=_A),
            Field("to", ADDRESS, "The recipient; the created contract on a creation", sample=_B),
            Field("value", AMOUNT, "Wei moved", sample="1000"),
        ),
        parties=("from", "to"),
    ),
    Kind(
        "internal_transfer",
        "on chains whose node serves call traces: every call, create or selfdestruct inside a transaction that "
        "did not fail, at any depth, that moves value > 0; nothing from a call frame that reverted nor from "
        "anything beneath it; delegatecall, staticcall and callcode move nothing",
        (
            Field("from", ADDRESS, "The account the value left (the calling contract)", sample=_A),
            Field("to", ADDRESS, "The account the value reached (callee, created contract, or selfdestruct "
                  "beneficiary)", sample=_B),
            Field("value", AMOUNT, "Wei moved", sample="1000"),
            Field("call_type", STRING, "call, create, create2 or selfdestruct", sample="call"),
            Field("trace_address", STRING, "The frame's path in the transaction's call tree, e.g. 0.2.1 (the "
                  "first call of the transaction is 0)", sample="0"),
        ),
        parties=("from", "to"),
        default=False,
        needs_traces=True,
    ),
    Kind(
        "withdrawal",
        "each beacon-chain withdrawal of the block (EIP-4895)",
        (
            Field("to", ADDRESS, "The withdrawal address", sample=_B),
            Field("value", AMOUNT, "Wei credited (the consensus layer's gwei amount times 10^9)", sample="1000"),
            Field("validator_index", INTEGER, "The validator's index", sample=7),
            Field("withdrawal_index", INTEGER, "The withdrawal's index, unique on the chain", sample=70),
        ),
        parties=("to",),
        level="block",
    ),
    _token_kind(
        "erc20_transfer",
        "a Transfer(address,address,uint256) log with 3 topics (logs exist only in transactions that did not fail)",
        Field("value", AMOUNT, "Amount in the token's smallest unit", sample="1000"),
    ),
    _token_kind("erc721_transfer", "a Transfer log with 4 topics", Field("token_id", AMOUNT, "The token's id", sample="7")),
    _token_kind(
        "erc1155_transfer",
        "a TransferSingle log, or a TransferBatch log (one event per id)",
        Field("token_id", AMOUNT, "The token's id", sample="7"),
        Field("value", AMOUNT, "Amount of that id", sample="1000"),
        operator=True,
    ),
    Kind(
        "log",
        "every log",
        (
            Field("address", ADDRESS, "The emitting contract", sample=_B),
            Field("topics", TOPICS, "The log's topics", sample=[_H, _H, _H, _H]),
            Field("data", HEX, "The log's data", sample="0x" + "00" * 32),
        ),
        parties=("address",),
        emitter="address",
        level="log",
        default=False,
    ),
)  # fmt: skip

BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS}
KIND_NAMES: tuple[str, ...] = tuple(BY_NAME)
DEFAULT_KINDS: tuple[str, ...] = tuple(kind.name for kind in KINDS if kind.default)
TRACE_KINDS: frozenset[str] = frozenset(kind.name for kind in KINDS if kind.needs_traces)
PARTY_FIELDS: dict[str, tuple[str, ...]] = {kind.name: kind.parties for kind in KINDS}
EMITTER_FIELDS: dict[str, str] = {kind.name: kind.emitter for kind in KINDS if kind.emitter}


def fields_of_type(*types: str) -> frozenset[str]:
    return frozenset(f.name for kind in KINDS for f in kind.all_fields() if f.type in types)


# Added to each event by a delivery (not part of the event a block makes).
DELIVERY_FIELDS: tuple[Field, ...] = (
    Field("matched_addresses", ADDRESSES, "The monitor's addresses among the event's parties (empty for a monitor "
          "that watches every party)"),
    Field("labels", LABELS, "Each matched address that has a label, mapped to it; absent when none has one"),
    Field("args", ARGS, "On a log whose topic 0 is one of the monitor's event_signatures: the decoded "
          "arguments by name (integers as decimal strings)"),
)  # fmt: skip
# Delivery fields that only some kinds carry (the others: every kind); labels and args only when set.
DELIVERY_FIELD_KINDS: dict[str, tuple[str, ...]] = {"args": ("log",)}
DELIVERY_REQUIRED: tuple[str, ...] = ("matched_addresses",)

ID_FORMATS: dict[str, str] = {
    "transaction": "{chain_id}:{block_hash}:{tx_index}:tx:transaction",
    "native_transfer": "{chain_id}:{block_hash}:{tx_index}:tx:native_transfer",
    "internal_transfer": "{chain_id}:{block_hash}:{tx_index}:tx:internal_transfer:{trace_address}",
    "withdrawal": "{chain_id}:{block_hash}:withdrawal:{withdrawal_index}",
    "erc20_transfer": "{chain_id}:{block_hash}:{tx_index}:{log_index}:erc20_transfer",
    "erc721_transfer": "{chain_id}:{block_hash}:{tx_index}:{log_index}:erc721_transfer",
    "erc1155_transfer": "{chain_id}:{block_hash}:{tx_index}:{log_index}:erc1155_transfer, and "
    "{...}:erc1155_transfer:{n} for the n-th id (from 0) of a TransferBatch",
    "log": "{chain_id}:{block_hash}:{tx_index}:{log_index}:log",
}
assert set(ID_FORMATS) == set(KIND_NAMES)

_KIND_RANK = {name: rank for rank, name in enumerate(KIND_NAMES)}


def order_key(event: dict[str, Any]) -> tuple:
    """Chain order: by transaction (withdrawals, processed at the end of the block, after all of them),
    a transaction's own events before its logs, then by log; within one of those by kind, then by
    trace path, batch position or withdrawal index. ValueError for an index that is not an integer."""
    tx_index, log_index = event.get("tx_index"), event.get("log_index")
    for name, value in (("tx_index", tx_index), ("log_index", log_index)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError(f"event {event.get('id')!r} has a {name} that is neither null nor an integer: {value!r}")
    kind = event.get("kind")
    return (
        tx_index is None,
        tx_index if tx_index is not None else 0,
        log_index is not None,
        log_index if log_index is not None else -1,
        _KIND_RANK.get(kind, len(_KIND_RANK)),
        _position(event),
        str(event.get("id", "")),
    )


def _position(event: dict[str, Any]) -> tuple[int, ...]:
    kind = event.get("kind")
    try:
        if kind == "internal_transfer":
            return tuple(int(part) for part in str(event.get("trace_address", "")).split("."))
        if kind == "withdrawal":
            return (int(event.get("withdrawal_index", 0)),)
        if kind == "erc1155_transfer":
            last = str(event.get("id", "")).rpartition(":")[2]
            return (int(last),) if last.isdigit() else (-1,)
    except (TypeError, ValueError):
        pass
    return ()


def event_json_schema(kind: Kind) -> dict[str, Any]:
    """JSON Schema of one kind's events as a block makes them."""
    properties = {field.name: field.json_schema() for field in kind.all_fields()}
    properties["kind"] = {"const": kind.name, "description": COMMON_FIELDS[1].description}
    return {
        "type": "object",
        "description": f"`{kind.name}`: {kind.source}",
        "properties": properties,
        "required": [field.name for field in kind.all_fields()],
    }


def delivered_event_json_schema(kind: Kind) -> dict[str, Any]:
    """JSON Schema of one kind's events as a delivery carries them: with the fields a delivery adds."""
    schema = event_json_schema(kind)
    for field in DELIVERY_FIELDS:
        if kind.name in DELIVERY_FIELD_KINDS.get(field.name, (kind.name,)):
            schema["properties"][field.name] = field.json_schema()
            if field.name in DELIVERY_REQUIRED:
                schema["required"].append(field.name)
    return schema


def reference_markdown() -> str:
    """docs/events.md: every kind, its fields, its id format and its parties."""
    lines = [
        "# Event reference",
        "",
        "<!-- Generated from layers/shared/python/blockhook/chain/kinds.py by "
        "`python -m blockhook.chain.kinds docs/events.md`; a test checks it is current. -->",
        "",
        "blockhook turns each block into events of the kinds below. A webhook delivery carries a monitor's "
        "events of one block (the README's Delivery guarantees section; its body, headers and an example: "
        "`webhooks` in [openapi.json](openapi.json)). Amounts (`value`, `token_id`) are decimal "
        "strings, exact at any size; addresses and hashes are lowercase 0x-hex.",
        "",
        "A monitor matches an event when its kind is in the monitor's `kinds`; the monitor watches every party, "
        "or its address list holds one of the event's parties; `contracts` is empty or holds the event's "
        "emitter; `event_signatures` is empty or one of them is the log's topic 0; and `condition` is empty or "
        "true.",
        "",
        "| kind | made from | parties | emitter | in default kinds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS:
        parties = ", ".join(f"`{name}`" for name in kind.parties)
        emitter = f"`{kind.emitter}`" if kind.emitter else "none"
        lines.append(f"| `{kind.name}` | {kind.source} | {parties} | {emitter} | {'yes' if kind.default else 'no'} |")
    lines += [
        "",
        "## Fields every event has",
        "",
        "| field | type | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{f.name}` | {_type_text(f)} | {f.description} |" for f in COMMON_FIELDS]
    for kind in KINDS:
        lines += ["", f"## `{kind.name}`", "", f"Made from {kind.source}.", ""]
        if kind.needs_traces:
            lines += [
                "Only on chains whose node serves call traces (`traces` in `GET /v1/chains`); a monitor asking "
                "for it on a chain without them is refused with 422.",
                "",
            ]
        lines += [f"Id: `{ID_FORMATS[kind.name]}`", "", "| field | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{f.name}` | {_type_text(f)} | {f.description} |" for f in kind.fields]
    lines += [
        "",
        "## Added by a delivery",
        "",
        "| field | type | meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{f.name}` | {_type_text(f)} | {f.description} |" for f in DELIVERY_FIELDS]
    lines += [
        "",
        "## Order",
        "",
        "Within a delivery, events are in chain order: by transaction; a transaction's `transaction`, "
        "`native_transfer` and `internal_transfer` events (in call-tree order) before its logs; then by log, "
        "a log's token event(s) before the plain `log`; a block's withdrawals last.",
        "",
    ]
    return "\n".join(lines)


def _type_text(field: Field) -> str:
    text = {
        ADDRESS: "address",
        HASH: "hash",
        SELECTOR: "hex, 4 bytes",
        HEX: "hex",
        AMOUNT: "decimal string",
        INTEGER: "integer",
        STRING: "string",
        TOPICS: "list of hashes",
        ADDRESSES: "list of addresses",
        LABELS: "object, address to label",
        ARGS: "object, argument name to value",
    }[field.type]
    return f"{text} or null" if field.nullable else text


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(reference_markdown(), encoding="utf-8")
