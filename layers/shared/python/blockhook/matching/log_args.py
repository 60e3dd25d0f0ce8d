"""The `args` of a `log` event: its topics and data decoded by a monitor's event signature.

Values are JSON-ready: addresses lowercase 0x-hex; every integer a decimal string (uint256 and friends
exceed JSON's safe integers, and one rule for all sizes is easier to use); bool a bool; bytes and bytesN
0x-hex; string a str, or 0x-hex of its raw bytes when it is not UTF-8; fixed-point a decimal string;
arrays and tuples lists (tuple component names are not kept). An indexed string, bytes, array or tuple
is the 32-byte topic as 0x-hex: the log holds only the keccak hash of such a value, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from eth_abi import decode
from eth_abi.grammar import ABIType, BasicType, TupleType, parse
from eth_abi.registry import registry

from blockhook.matching.signatures import InvalidSignature, signature_params, topic0

_TOPIC = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
# Same ABI encoding; decoded as bytes so that text that is not UTF-8 can still be answered (as hex).
_STRING = re.compile(r"\bstring\b")
# Value types stand in a topic as themselves; everything else stands there as its keccak hash.
_VALUE_BASES = frozenset({"address", "bool", "uint", "int", "fixed", "ufixed", "function"})  # and bytesN
DECODER_CACHE_SIZE = 4096
# Decoding may touch each byte of the data about once; more means offsets that share one tail (see _Layout).
WORK_PER_DATA_BYTE = 2
# Arrays and tuples inside one another; decoding recurses once per level.
MAX_TYPE_NESTING = 32

_Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class EventParam:
    name: str
    type: str  # canonical: uint256, (uint256,address), bytes32[] ...
    indexed: bool


def event_params(signature: str) -> tuple[str, tuple[EventParam, ...]]:
    """The event name and its parameters; an unnamed parameter is named `arg<position>`."""
    event_name, parsed = signature_params(signature)
    params = tuple(
        EventParam(param.name or f"arg{position}", param.type, param.indexed)
        for position, param in enumerate(parsed)
    )
    names = [param.name for param in params]
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise InvalidSignature(f"parameter name {duplicate!r} is used twice in {signature!r}")
    return event_name, params


class LogArgsDecoder:
    """Decodes the logs of one event signature; built once per signature (see `decoder_for`)."""

    topic0: str
    params: tuple[EventParam, ...]

    def __init__(self, topic0: str, params: tuple[EventParam, ...]) -> None:
        self.topic0 = topic0
        self.params = params
        self._topic_count = 1 + sum(param.indexed for param in params)
        # Topic position (0-based, after topic 0) per indexed parameter; value types decode together.
        self._topic_types: list[str] = []
        self._topic_values: list[tuple[str, int, _Convert]] = []
        self._topic_hashes: list[tuple[str, int]] = []
        self._data_types: list[str] = []
        self._data_values: list[tuple[str, _Convert]] = []
        topic_position = 0
        for param in params:
            abi_type = _abi_type(param.type)
            if param.indexed:
                if _is_value_type(abi_type):
                    self._topic_types.append(param.type)
                    self._topic_values.append((param.name, topic_position, _converter(abi_type)))
                else:
                    self._topic_hashes.append((param.name, topic_position))
                topic_position += 1
            else:
                self._data_types.append(_STRING.sub("bytes", param.type))
                self._data_values.append((param.name, _converter(abi_type)))
        self._order = tuple(param.name for param in params)
        try:
            registry.get_tuple_decoder(*self._topic_types)
            registry.get_tuple_decoder(*self._data_types)
            self._layout = _Layout.of(self._data_types)
        except Exception as error:  # eth_abi refuses a few types the signature grammar allows
            raise InvalidSignature(f"cannot decode the parameters of this event: {error}") from error

    @classmethod
    def from_signature(cls, signature: str) -> LogArgsDecoder:
        _, params = event_params(signature)
        return cls(topic0(signature), params)

    def decode(self, log_event: Mapping[str, Any]) -> dict[str, Any] | None:
        """The args by parameter name in signature order, or None when the log is not this event as
        written (other topic 0, other number of topics) or its topics or data do not decode."""
        topics = log_event.get("topics") if isinstance(log_event, Mapping) else None
        if not isinstance(topics, list | tuple) or len(topics) != self._topic_count:
            return None
        if not all(isinstance(topic, str) and _TOPIC.fullmatch(topic) for topic in topics):
            return None
        if topics[0].lower() != self.topic0:
            return None
        data = log_event.get("data")
        if not isinstance(data, str) or not _HEX.fullmatch(data):
            return None
        args: dict[str, Any] = {}
        try:
            if self._topic_types:
                raw = b"".join(bytes.fromhex(topics[1 + position][2:]) for _, position, _ in self._topic_values)
                for (name, _, convert), value in zip(self._topic_values, decode(self._topic_types, raw),
                                                     strict=True):
                    args[name] = convert(value)
            if self._data_types:
                raw = bytes.fromhex(data[2:])
                if self._layout is not None and not self._layout.fits(raw):
                    return None
                values = decode(self._data_types, raw)
                for (name, convert), value in zip(self._data_values, values, strict=True):
                    args[name] = convert(value)
        except Exception:  # a log is untrusted input; eth_abi raises several kinds on malformed data
            return None
        for name, position in self._topic_hashes:
            args[name] = topics[1 + position].lower()
        return {name: args[name] for name in self._order}


@lru_cache(maxsize=DECODER_CACHE_SIZE)
def decoder_for(signature: str) -> LogArgsDecoder:
    return LogArgsDecoder.from_signature(signature)


class _TooMuchWork(Exception):
    pass


class _Layout:
    """Bounds the work of decoding data whose type holds an array of dynamic items (`string[]`,
    `uint256[][]`, `(uint256,bytes)[]` ...). Each item there is found through an offset, and nothing
    stops a log from pointing all of them at one long tail: a few kilobytes of data would then decode
    to gigabytes in minutes. `fits` walks the offsets and lengths alone and stops as soon as they add up
    to more than WORK_PER_DATA_BYTE times the data, which no encoding written by Solidity does."""

    # A node: (static size, None) for a static type; (None, None) for bytes and string;
    # (None, ("array", length or None, item node)); (None, ("tuple", component nodes)).
    def __init__(self, root: tuple) -> None:
        self._root = root

    @classmethod
    def of(cls, data_types: list[str]) -> _Layout | None:
        if not data_types:
            return None
        root = _node(parse(f"({','.join(data_types)})"))
        return cls(root) if _fans_out(root) else None

    def fits(self, data: bytes) -> bool:
        try:
            return _work(self._root, data, 0, WORK_PER_DATA_BYTE * len(data)) >= 0
        except _TooMuchWork:
            return False


def _node(abi_type: ABIType) -> tuple:
    if not abi_type.is_dynamic:
        return (_static_size(abi_type), None)
    if abi_type.is_array:
        dimension = abi_type.arrlist[-1]
        return (None, ("array", dimension[0] if dimension else None, _node(abi_type.item_type)))
    if isinstance(abi_type, TupleType):
        return (None, ("tuple", tuple(_node(component) for component in abi_type.components)))
    return (None, None)


def _static_size(abi_type: ABIType) -> int:
    if abi_type.is_array:
        return abi_type.arrlist[-1][0] * _static_size(abi_type.item_type)
    if isinstance(abi_type, TupleType):
        return sum(_static_size(component) for component in abi_type.components)
    return 32


def _fans_out(node: tuple) -> bool:
    """Whether the type holds an array of dynamic items, the one shape whose work offsets can multiply."""
    shape = node[1]
    if shape is None:
        return False
    if shape[0] == "array":
        return shape[2][0] is None or _fans_out(shape[2])
    return any(_fans_out(component) for component in shape[1])


def _work(node: tuple, data: bytes, position: int, budget: int) -> int:
    """The budget left after reading the value of `node` at `position`; raises _TooMuchWork when spent,
    also when an offset or length points outside the data (eth_abi would refuse that too)."""
    static_size, shape = node
    if static_size is not None:
        budget -= static_size
    elif shape is None:  # bytes, string: length word, then the padded content
        budget -= 32 + -(-_word(data, position) // 32) * 32
    elif shape[0] == "array":
        _, length, item = shape
        if length is None:
            length, position, budget = _word(data, position), position + 32, budget - 32
        if item[0] is not None:
            budget -= length * item[0]
        else:
            for index in range(length):
                if budget < 0:
                    break
                budget = _work(item, data, position + _word(data, position + 32 * index), budget - 32)
    else:
        head = position
        for component in shape[1]:
            if component[0] is not None:
                budget, head = budget - component[0], head + component[0]
            else:
                budget = _work(component, data, position + _word(data, head), budget - 32)
                head += 32
    if budget < 0:
        raise _TooMuchWork
    return budget


def _word(data: bytes, position: int) -> int:
    if position + 32 > len(data):
        raise _TooMuchWork
    return int.from_bytes(data[position : position + 32], "big")


def _abi_type(canonical: str) -> ABIType:
    # An upper bound of the nesting, found without recursing: every array level and the deepest tuple.
    depth = deepest = 0
    for character in canonical:
        depth += (character == "(") - (character == ")")
        deepest = max(deepest, depth)
    if deepest + canonical.count("[") > MAX_TYPE_NESTING:
        raise InvalidSignature(f"the type {canonical!r} nests more than {MAX_TYPE_NESTING} levels")
    try:
        return parse(canonical)
    except Exception as error:
        raise InvalidSignature(f"cannot decode the type {canonical!r}: {error}") from error


def _is_value_type(abi_type: ABIType) -> bool:
    if not isinstance(abi_type, BasicType) or abi_type.is_array:
        return False
    return abi_type.base in _VALUE_BASES or (abi_type.base == "bytes" and abi_type.sub is not None)


def _converter(abi_type: ABIType) -> _Convert:
    if abi_type.is_array:
        convert_item = _converter(abi_type.item_type)
        return lambda values: [convert_item(value) for value in values]
    if isinstance(abi_type, TupleType):
        converters = [_converter(component) for component in abi_type.components]
        return lambda values: [convert(value) for convert, value in zip(converters, values, strict=True)]
    base = abi_type.base
    if base == "address":
        return str.lower
    if base in ("uint", "int"):
        return str
    if base == "bool":
        return bool
    if base in ("fixed", "ufixed"):
        return _decimal
    if base == "string":
        return _text
    return _hex  # bytes, bytesN, function


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _hex(value)


def _decimal(value: Decimal) -> str:
    return format(value, "f")
