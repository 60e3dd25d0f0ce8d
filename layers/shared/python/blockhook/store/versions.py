"""The change counter of monitors and watched addresses (see VersionModel)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from blockhook.store.models import VersionModel

MONITORS_VERSION_KEY = "version#monitors"


def bump_monitors_version() -> int:
    item = VersionModel(MONITORS_VERSION_KEY)
    item.update(actions=[VersionModel.version.add(1)])
    return int(item.version)


def monitors_version() -> int:
    try:
        return int(VersionModel.get(MONITORS_VERSION_KEY, consistent_read=True).version)
    except DoesNotExist:
        return 0
