"""The change counter of monitors and watched addresses (see VersionModel), and what each
change was (see ChangeModel)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pynamodb.exceptions import DoesNotExist

from blockhook.store.models import ChangeModel, VersionModel

MONITORS_VERSION_KEY = "version#monitors"
BATCH_GET_LIMIT = 100


def bump_monitors_version(heads: Mapping[int, int] | None = None) -> int:
    """Count a change; `heads` are the chains' heads when the change added addresses."""
    item = VersionModel(MONITORS_VERSION_KEY)
    item.update(actions=[VersionModel.version.add(1)])
    version = int(item.version)
    ChangeModel(f"change#{version}", heads=json.dumps({str(k): v for k, v in (heads or {}).items()})).save()
    return version


def monitors_version() -> int:
    try:
        return int(VersionModel.get(MONITORS_VERSION_KEY, consistent_read=True).version)
    except DoesNotExist:
        return 0


def changes_between(old: int, new: int) -> dict[int, dict[int, int]] | None:
    """The heads of each change in (old, new], by version; None when one of them is not
    written yet (its bump raced this read) or there are too many to read."""
    versions = range(old + 1, new + 1)
    if len(versions) > 10 * BATCH_GET_LIMIT:
        return None
    found: dict[int, dict[int, int]] = {}
    keys = [f"change#{version}" for version in versions]
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        for item in ChangeModel.batch_get(keys[start : start + BATCH_GET_LIMIT]):
            version = int(item.key.split("#", 1)[1])
            found[version] = {int(chain): int(head) for chain, head in json.loads(item.heads).items()}
    return found if len(found) == len(keys) else None
