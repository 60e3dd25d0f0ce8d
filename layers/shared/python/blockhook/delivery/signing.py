"""Webhook signatures, two schemes over the same secrets.

`Blockhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`: HMAC-SHA256 over
`<timestamp>.<raw body>` keyed by the secret's text. During a secret rotation one `v1` entry is
written per secret, current first, so a receiver that still holds the old secret keeps verifying.
The timestamp is signed too, which lets a receiver refuse replays older than its tolerance.

Standard Webhooks (standardwebhooks.com), so a receiver in any language verifies with an existing
library: `webhook-id` (the delivery id), `webhook-timestamp`, and `webhook-signature: v1,<base64>`
(space-separated, one per secret), HMAC-SHA256 over `<id>.<timestamp>.<raw body>` keyed by the
bytes the secret's `whsec_<base64>` form stands for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Blockhook-Signature"
DELIVERY_ID_HEADER = "Blockhook-Delivery-Id"
USER_AGENT = "blockhook/0.1"
SIGNATURE_VERSION = "v1"

_HEX_DIGITS = frozenset("0123456789abcdef")
_SHA256_HEX_LENGTH = 64


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of `f"{timestamp}.".encode() + body` keyed by the UTF-8 secret."""
    message = f"{int(timestamp)}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<ts>,v1=<hex>` with one `v1` per secret, in the order given (current secret first)."""
    if isinstance(secrets, str) or not secrets:
        # A bare string would be signed once per character; an empty list would send an unsigned webhook.
        raise ValueError("signature_header needs a non-empty sequence of secrets")
    parts = [f"t={int(timestamp)}"]
    parts.extend(f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}" for secret in secrets)
    return ",".join(parts)


def _parse_header(header: str) -> tuple[int, list[str]] | None:
    """(timestamp, v1 signatures), or None when the header is not one we write.

    Unknown keys (a future `v2=`) are skipped so that receivers keep working when a scheme is added.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return None
            timestamp = int(value)
        elif key == SIGNATURE_VERSION:
            if len(value) != _SHA256_HEX_LENGTH or not set(value) <= _HEX_DIGITS:
                return None
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    header: str, body: bytes, secret: str, tolerance_seconds: int = 300, now: int | None = None
) -> bool:
    """True when one `v1` entry matches `secret` and `t` is within `tolerance_seconds` of `now`.

    Never raises: a missing, malformed or non-string header, or a wrong type of body, is simply False.
    Every `v1` entry is compared in constant time, and all of them are compared, so the time taken
    does not tell which entry (if any) matched.
    """
    try:
        parsed = _parse_header(header)
        if parsed is None:
            return False
        timestamp, signatures = parsed
        current = int(time.time()) if now is None else int(now)
        if abs(current - timestamp) > tolerance_seconds:
            return False
        expected = sign(secret, timestamp, body)
        matched = False
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
        return matched
    except (AttributeError, TypeError, ValueError, OverflowError):
        return False


STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"


def standard_key(secret: str) -> bytes:
    """The HMAC key a Standard Webhooks library derives from `secret`: the base64 after `whsec_`
    (decoded as the reference libraries do, padding added, other characters skipped)."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    except (binascii.Error, ValueError):
        return secret.encode("utf-8")


def standard_signature(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` per secret, space-separated, current first."""
    if isinstance(secrets, str) or not secrets:
        raise ValueError("standard_signature needs a non-empty sequence of secrets")
    message = f"{message_id}.{int(timestamp)}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(standard_key(secret), message, hashlib.sha256).digest()).decode()
        for secret in secrets
    )


def webhook_headers(delivery_id: str, secrets: Sequence[str], body: bytes, timestamp: int) -> dict[str, str]:
    """All headers blockhook sends with a webhook POST."""
    return {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
        STANDARD_ID_HEADER: delivery_id,
        STANDARD_TIMESTAMP_HEADER: str(int(timestamp)),
        STANDARD_SIGNATURE_HEADER: standard_signature(secrets, delivery_id, timestamp, body),
        "User-Agent": USER_AGENT,
    }
