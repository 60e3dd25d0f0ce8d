"""Opaque page cursors: DynamoDB's LastEvaluatedKey, base64url-encoded JSON.

A cursor comes back from the caller, so it is checked before it reaches DynamoDB:
a key DynamoDB refuses would be a server error, and a key of another partition
(another tenant's or monitor's) must not page through that partition.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

MAX_CURSOR_CHARS = 2048
_ATTRIBUTE_TYPES = frozenset({"S", "N"})
_INTEGER = re.compile(r"-?[0-9]{1,38}")  # the numbers in our keys are integers (timestamps)


class InvalidCursor(ValueError):
    pass


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None,
    key_attributes: frozenset[str] | set[str] | None = None,
    partition: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The LastEvaluatedKey in `cursor`, or None for no cursor.

    `key_attributes`: the exact attribute names the key must have. `partition`: attribute
    name -> string value the key must carry (the hash key of the query being paged)."""
    if not cursor:
        return None
    refused = InvalidCursor("cursor is not one this API returned")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise refused
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise refused from error
    if not isinstance(value, dict) or not value or not all(_is_key_value(item) for item in value.values()):
        raise refused
    if key_attributes is not None and set(value) != set(key_attributes):
        raise refused
    for name, expected in (partition or {}).items():
        if value.get(name) != {"S": expected}:
            raise refused
    return value


def _is_key_value(item: Any) -> bool:
    # One typed DynamoDB scalar, e.g. {"S": "mon_..."} or {"N": "1700000000"}.
    if not isinstance(item, dict) or len(item) != 1:
        return False
    ((kind, text),) = item.items()
    if kind not in _ATTRIBUTE_TYPES or not isinstance(text, str) or not text or len(text) > 1024:
        return False
    return kind == "S" or bool(_INTEGER.fullmatch(text))
