"""Addresses as the API takes them (checked here first, so a bad row is reported before anything is sent),
CSV files of `address,label` rows, and the batches of the address calls."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_PER_CALL = 10_000
MAX_LABEL_LENGTH = 200
# The API takes bodies up to 4,721,024 bytes; a batch stays below this, whatever its labels' scripts.
MAX_BATCH_BYTES = 4_500_000

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def address_problem(value: object) -> str | None:
    """Why `value` is not an address the API accepts, or None."""
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        return "an address is 0x followed by 40 hex digits"
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and checksummed(value) != value:
        return "mixed-case address fails its EIP-55 checksum"
    return None


def checksummed(address: str) -> str:
    """The EIP-55 spelling of an address."""
    digits = address[2:].lower()
    hashed = keccak256(digits.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(h, 16) >= 8 else c for c, h in zip(digits, hashed[:40], strict=True))


@dataclass(frozen=True)
class Entry:
    address: str  # lowercase
    label: str | None

    def item(self) -> str | dict[str, str]:
        """As the API's `add` takes it."""
        return self.address if self.label is None else {"address": self.address, "label": self.label}


class BadRows(Exception):
    """Rows of a file that are not addresses; each problem names its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} bad rows")
        self.source = source
        self.problems = problems


def parse_csv(text: str, source: str = "<csv>") -> list[Entry]:
    """Rows `address,label` (the header line `address,label` optional, the label optional), in file order;
    an address listed twice takes its last label. Raises BadRows naming every bad line."""
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not cells or cells == [""]:
            continue
        if line == 1 and [cell.lower() for cell in cells] in (["address", "label"], ["address"]):
            continue
        if len(cells) > 2:
            problems.append(f"line {line}: {len(cells)} columns; a row is address,label (quote a label with commas)")
            continue
        address, label = cells[0], (cells[1] if len(cells) == 2 and cells[1] != "" else None)
        problem = address_problem(address)
        if problem is None and label is not None and len(label) > MAX_LABEL_LENGTH:
            problem = f"a label is at most {MAX_LABEL_LENGTH} characters ({len(label)} here)"
        if problem is not None:
            problems.append(f"line {line}: {address[:60]!r}: {problem}")
            continue
        entry = Entry(address.lower(), label)
        entries.pop(entry.address, None)  # the last row of an address is where it stands
        entries[entry.address] = entry
    if problems:
        raise BadRows(source, problems)
    return list(entries.values())


def read_csv(path: Path) -> list[Entry]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from spreadsheet exports is not a character
    except (OSError, UnicodeDecodeError) as error:
        raise BadRows(str(path), [f"cannot read it: {error}"]) from None
    return parse_csv(text, str(path))


def write_csv(items: Iterable[dict], out: io.TextIOBase) -> int:
    """`address,label` rows with their header; how many rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["address", "label"])
    count = 0
    for item in items:
        writer.writerow([item["address"], item.get("label") or ""])
        count += 1
    return count


def batches(add: list[Entry], remove: list[str] | None = None) -> Iterator[tuple[list[Entry], list[str]]]:
    """Address calls of at most 10,000 items each and a body under the API's size limit: adds first, the
    removes after them."""
    work: list[tuple[bool, Entry | str]] = [(True, entry) for entry in add]
    work += [(False, address) for address in remove or ()]
    adds: list[Entry] = []
    removes: list[str] = []
    size = 0
    for is_add, value in work:
        item = value.item() if is_add else value  # type: ignore[union-attr]
        item_size = len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 2  # and its ", "
        full = len(adds) + len(removes) >= MAX_PER_CALL or size + item_size > MAX_BATCH_BYTES
        if (adds or removes) and full:
            yield adds, removes
            adds, removes, size = [], [], 0
        if is_add:
            adds.append(value)  # type: ignore[arg-type]
        else:
            removes.append(value)  # type: ignore[arg-type]
        size += item_size
    if adds or removes:
        yield adds, removes


# Keccak-256 (the pre-standard SHA-3 Ethereum uses, which hashlib lacks), only for EIP-55 checksums: a
# mixed-case address is checked before anything is sent, without a dependency for one hash.
_ROUND_CONSTANTS = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]  # fmt: skip
_ROTATIONS = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
]  # _ROTATIONS[x][y]
_MASK = (1 << 64) - 1
_RATE = 136  # bytes, for a 256-bit output


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _permute(state: list[list[int]]) -> None:
    for constant in _ROUND_CONSTANTS:
        parity = [state[x][0] ^ state[x][1] ^ state[x][2] ^ state[x][3] ^ state[x][4] for x in range(5)]
        for x in range(5):
            d = parity[(x - 1) % 5] ^ _rotl(parity[(x + 1) % 5], 1)
            for y in range(5):
                state[x][y] ^= d
        moved = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                moved[y][(2 * x + 3 * y) % 5] = _rotl(state[x][y], _ROTATIONS[x][y])
        for x in range(5):
            for y in range(5):
                state[x][y] = moved[x][y] ^ (~moved[(x + 1) % 5][y] & moved[(x + 2) % 5][y])
        state[0][0] ^= constant


def keccak256(data: bytes) -> bytes:
    padded = bytearray(data) + b"\x01"
    padded += b"\x00" * (-len(padded) % _RATE)
    padded[-1] |= 0x80
    state = [[0] * 5 for _ in range(5)]
    for start in range(0, len(padded), _RATE):
        block = padded[start : start + _RATE]
        for i in range(_RATE // 8):
            x, y = i % 5, i // 5
            state[x][y] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _permute(state)
    out = b"".join(state[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out
