"""The change counter of monitors and watched addresses (see VersionModel), and what each
change was (see ChangeModel)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist

from blockhook.store.models import ChangeModel, VersionModel

MONITORS_VERSION_KEY = "version#monitors"
BATCH_GET_LIMIT = 100
ADDRESS_BYTES = 20
MAX_LISTED_ADDRESSES = 15_000  # 300 KB of addresses: within DynamoDB's 400 KB item limit


@dataclass(frozen=True)
class Change:
    heads: dict[int, int]  # the chains' heads when addresses were added
    added: frozenset[str] | None  # None: not listed, the reader must reload every address


def bump_monitors_version(heads: Mapping[int, int] | None = None, added: Sequence[str] = ()) -> int:
    """Count a change; `heads` are the chains' heads when the change added `added`."""
    item = VersionModel(MONITORS_VERSION_KEY)
    item.update(actions=[VersionModel.version.add(1)])
    version = int(item.version)
    listed = (
        b"".join(bytes.fromhex(address[2:]) for address in added) if len(added) <= MAX_LISTED_ADDRESSES else None
    )
    ChangeModel(
        f"change#{version}", heads=json.dumps({str(k): v for k, v in (heads or {}).items()}), added=listed
    ).save()
    return version


def monitors_version() -> int:
    try:
        return int(VersionModel.get(MONITORS_VERSION_KEY, consistent_read=True).version)
    except DoesNotExist:
        return 0


def changes_between(old: int, new: int) -> dict[int, Change] | None:
    """Each change in (old, new], by version; None when one of them is not written yet (its
    bump raced this read) or there are too many to read."""
    versions = range(old + 1, new + 1)
    if len(versions) > 10 * BATCH_GET_LIMIT:
        return None
    found: dict[int, Change] = {}
    keys = [f"change#{version}" for version in versions]
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        for item in ChangeModel.batch_get(keys[start : start + BATCH_GET_LIMIT]):
            version = int(item.key.split("#", 1)[1])
            heads = {int(chain): int(head) for chain, head in json.loads(item.heads).items()}
            found[version] = Change(heads, _addresses(item.added))
    return found if len(found) == len(keys) else None


def _addresses(packed: bytes | None) -> frozenset[str] | None:
    if packed is None:
        return None
    return frozenset(
        "0x" + packed[start : start + ADDRESS_BYTES].hex() for start in range(0, len(packed), ADDRESS_BYTES)
    )
