"""Event signatures as users write them, to the topic 0 a log carries."""

from __future__ import annotations

import re

from eth_utils import keccak

_SIGNATURE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")
_TOPIC = re.compile(r"^0x[0-9a-fA-F]{64}$")


class InvalidSignature(ValueError):
    pass


def canonical_signature(signature: str) -> str:
    """`Transfer(address indexed from, address indexed to, uint256 value)` -> `Transfer(address,address,uint256)`."""
    match = _SIGNATURE.match(signature)
    if not match:
        raise InvalidSignature(f"not an event signature: {signature!r}")
    name, params = match.groups()
    types = []
    for param in _split_params(params):
        words = param.split()
        if not words:
            raise InvalidSignature(f"empty parameter in {signature!r}")
        types.append(words[0])
    return f"{name}({','.join(types)})"


def topic0(signature: str) -> str:
    """The topic 0 of a signature, or the signature itself when it already is a 32-byte topic."""
    if _TOPIC.match(signature):
        return signature.lower()
    return "0x" + keccak(text=canonical_signature(signature)).hex()


def _split_params(params: str) -> list[str]:
    # Split on commas outside parentheses, so tuple types stay whole.
    parts, depth, current = [], 0, []
    for char in params:
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    tail = "".join(current).strip()
    if tail or parts:
        parts.append(tail)
    return parts
