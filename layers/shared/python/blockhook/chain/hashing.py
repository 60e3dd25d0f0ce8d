"""keccak-256 of text and EIP-55 checksummed addresses, on eth-hash alone.

eth_utils has both, but importing it loads all of it (pydantic models, toolz, eth_typing): about half a
second of every cold start of the api and ingest functions, for two small functions.
"""

from __future__ import annotations

import re

from eth_hash.auto import keccak as _keccak

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def keccak_text(text: str) -> bytes:
    """keccak-256 of a text's UTF-8 bytes (an event signature's topic 0, a function's selector)."""
    return _keccak(text.encode("utf-8"))


def to_checksum_address(address: str) -> str:
    """EIP-55: a hex digit is upper case where the same nibble of keccak(lowercase hex) is 8 or more."""
    if not _HEX_ADDRESS.fullmatch(address):
        raise ValueError(f"{address!r} is not 0x followed by 40 hex digits")
    digits = address[2:].lower()
    hashed = _keccak(digits.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(digits, hashed, strict=False))


def is_checksum_address(value: object) -> bool:
    """Whether `value` is 0x-prefixed hex of an address, written exactly in its EIP-55 case."""
    return isinstance(value, str) and bool(_HEX_ADDRESS.fullmatch(value)) and value == to_checksum_address(value)
