"""JSON parsing that answers what json.loads answers, about twice as fast on large documents (block
messages, a node's batched answers of several megabytes)."""

from __future__ import annotations

import json
from typing import Any

import msgspec


def loads(value: Any) -> Any:
    """What json.loads(value) answers or raises.

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
