"""Event signatures as users write them, to the topic 0 a log carries."""

from __future__ import annotations

import re
from typing import NamedTuple

from blockhook.chain.hashing import keccak_text

_TOPIC = re.compile(r"^0x[0-9a-fA-F]{64}$")
# Words (names, types, `indexed`), array suffixes, and punctuation; anything else is refused.
_TOKEN = re.compile(r"\s*(?:([A-Za-z_$][A-Za-z0-9_$]*)|(\[[0-9]*\])|([(),]))")
_SIZED = re.compile(r"^(u?int|bytes)([1-9][0-9]*)$")
_FIXED = re.compile(r"^u?fixed([1-9][0-9]*)x([0-9]|[1-9][0-9])$")
_PLAIN_TYPES = frozenset({"address", "bool", "string", "bytes", "function", "uint256", "int256"})
# Solidity's aliases: the topic is the keccak of the canonical name, never of the alias.
_ALIASES = {"uint": "uint256", "int": "int256", "byte": "bytes1", "fixed": "fixed128x18", "ufixed": "ufixed128x18"}
MAX_TUPLE_DEPTH = 32


class InvalidSignature(ValueError):
    pass


class SignatureParam(NamedTuple):
    """One parameter as written: canonical type, whether it is `indexed`, and its name if it has one."""

    type: str
    indexed: bool
    name: str | None


def canonical_signature(signature: str) -> str:
    """`Transfer(address indexed from, address indexed to, uint value)` -> `Transfer(address,address,uint256)`.

    Parameter names and `indexed` are dropped, aliases resolved, tuples (`(...)` or `tuple(...)`,
    with or without component names) written `(type,type)`."""
    name, params = signature_params(signature)
    return f"{name}({','.join(param.type for param in params)})"


def signature_params(signature: str) -> tuple[str, tuple[SignatureParam, ...]]:
    """`Transfer(address indexed from, address indexed to, uint value)` -> ("Transfer", (
    ("address", True, "from"), ("address", True, "to"), ("uint256", False, "value"))).

    Types are canonical as in `canonical_signature`; tuple component names are not kept."""
    if not isinstance(signature, str):
        raise InvalidSignature(f"not an event signature: {signature!r}")
    tokens = _tokenize(signature)
    if len(tokens) < 3 or tokens[0][0] != "word" or tokens[1] != ("punct", "("):
        raise InvalidSignature(f"not an event signature: {signature!r}")
    params, end = _params(tokens, 2, signature, depth=0, event_level=True)
    if end != len(tokens):
        raise InvalidSignature(f"unexpected text after the parameters in {signature!r}")
    return tokens[0][1], tuple(params)


def topic0(signature: str) -> str:
    """The topic 0 of a signature, or the signature itself when it already is a 32-byte topic."""
    if isinstance(signature, str) and _TOPIC.match(signature):
        return signature.lower()
    return "0x" + keccak_text(canonical_signature(signature)).hex()


def _tokenize(signature: str) -> list[tuple[str, str]]:
    tokens, position, stripped_end = [], 0, len(signature.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(signature, position)
        if not match:
            raise InvalidSignature(f"unexpected character {signature[position:].lstrip()[:1]!r} in {signature!r}")
        word, array, punct = match.groups()
        tokens.append(("word", word) if word else ("array", array) if array else ("punct", punct))
        position = match.end()
    return tokens


def _params(
    tokens: list[tuple[str, str]], position: int, signature: str, depth: int, event_level: bool
) -> tuple[list[SignatureParam], int]:
    """Parse `param, param, ...)` from `position`; returns the parameters and the index after `)`."""
    if depth > MAX_TUPLE_DEPTH:
        raise InvalidSignature(f"tuples nested too deep in {signature!r}")
    params: list[SignatureParam] = []
    if position < len(tokens) and tokens[position] == ("punct", ")"):
        return params, position + 1
    while True:
        canonical, position = _type(tokens, position, signature, depth)
        # Then optionally `indexed` (event parameters only) and a name.
        indexed = event_level and _at(tokens, position) == ("word", "indexed")
        if indexed:
            position += 1
        name = None
        if _at(tokens, position)[0] == "word" and _at(tokens, position)[1] != "indexed":
            name = _at(tokens, position)[1]
            position += 1
        params.append(SignatureParam(canonical, indexed, name))
        separator = _at(tokens, position)
        position += 1
        if separator == ("punct", ")"):
            return params, position
        if separator != ("punct", ","):
            raise InvalidSignature(f"expected ',' or ')' in {signature!r}")


def _type(tokens: list[tuple[str, str]], position: int, signature: str, depth: int) -> tuple[str, int]:
    kind, text = _at(tokens, position)
    if kind == "word" and text == "tuple" and _at(tokens, position + 1) == ("punct", "("):
        kind, text, position = "punct", "(", position + 1
    if (kind, text) == ("punct", "("):
        components, position = _params(tokens, position + 1, signature, depth + 1, event_level=False)
        canonical = f"({','.join(component.type for component in components)})"
    elif kind == "word" and _elementary(text):
        canonical, position = _ALIASES.get(text, text), position + 1
    else:
        raise InvalidSignature(f"expected a type, found {text or 'the end'!r} in {signature!r}")
    while _at(tokens, position)[0] == "array":
        canonical += _at(tokens, position)[1]
        position += 1
    return canonical, position


def _elementary(name: str) -> bool:
    if name in _PLAIN_TYPES or name in _ALIASES:
        return True
    if sized := _SIZED.match(name):
        base, size = sized.group(1), int(sized.group(2))
        return 1 <= size <= 32 if base == "bytes" else _valid_bits(size)
    if fixed := _FIXED.match(name):
        return _valid_bits(int(fixed.group(1))) and int(fixed.group(2)) <= 80
    return False


def _valid_bits(bits: int) -> bool:
    return 8 <= bits <= 256 and bits % 8 == 0


def _at(tokens: list[tuple[str, str]], position: int) -> tuple[str, str]:
    return tokens[position] if position < len(tokens) else ("end", "")
