"""Monitors and their watched addresses: reads and writes, each one bumping the
change counter the matcher watches."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from blockhook.store.chain_state import load_checkpoint
from blockhook.store.models import AddressIndexModel, MonitorAddressModel, MonitorModel
from blockhook.store.paging import decode_cursor, encode_cursor
from blockhook.store.secret_box import KmsSecretBox, new_secret
from blockhook.store.versions import bump_monitors_version

BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem limit
MONITOR_KEY = frozenset({"tenant_id", "monitor_id"})
MONITOR_ADDRESS_KEY = frozenset({"monitor_id", "address"})


class MonitorNotFound(LookupError):
    pass


_MONITOR_ID = re.compile(r"mon_[0-9a-f]{24}")


def new_monitor_id() -> str:
    return "mon_" + secrets.token_hex(12)


def is_monitor_id(value: str) -> bool:
    """Whether `value` has the shape of an id new_monitor_id issues."""
    return bool(_MONITOR_ID.fullmatch(value))


def create_monitor(
    tenant_id: str,
    fields: Mapping[str, Any],
    box: KmsSecretBox,
    addresses: Sequence[tuple[str, str | None]] = (),
) -> tuple[MonitorModel, str]:
    """Create a monitor with its first (address, label) pairs; returns it and its new secret.

    The secret is stored sealed by `box`; the one returned is the only clear copy. The addresses
    are written before the monitor: a monitor with no addresses matches every party, so it must
    never be seen, even briefly, without the ones it was made with."""
    now = int(time.time())
    monitor_id = new_monitor_id()
    secret = new_secret()
    sealed = box.seal(secret, monitor_id)  # first: a KMS failure leaves nothing half written
    unique = dict(addresses)
    _write_address_items(monitor_id, tenant_id, list(unique.items()))
    monitor = MonitorModel(
        tenant_id,
        monitor_id,
        sealed_secret=sealed,
        created_at=now,
        updated_at=now,
        address_count=len(unique),
        version=1,
        **fields,
    )
    monitor.save(condition=MonitorModel.monitor_id.does_not_exist())
    bump_monitors_version(_heads(monitor) if unique else None, list(unique))
    return monitor, secret


def get_monitor(tenant_id: str, monitor_id: str) -> MonitorModel:
    try:
        return MonitorModel.get(tenant_id, monitor_id, consistent_read=True)
    except DoesNotExist:
        raise MonitorNotFound(monitor_id) from None


def list_monitors(tenant_id: str, limit: int, cursor: str | None) -> tuple[list[MonitorModel], str | None]:
    """A page of the tenant's monitors and the cursor of the next page (None on the last page).

    Raises InvalidCursor for a cursor this tenant was not given."""
    start = decode_cursor(cursor, MONITOR_KEY, {"tenant_id": tenant_id})
    # One item more than asked tells whether another page follows, so the last page has no cursor.
    items = list(
        MonitorModel.query(tenant_id, limit=limit + 1, last_evaluated_key=start, consistent_read=True)
    )
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor(
        {"tenant_id": {"S": last.tenant_id}, "monitor_id": {"S": last.monitor_id}}
    )


def count_monitors(tenant_id: str) -> int:
    return MonitorModel.count(tenant_id, consistent_read=True)


def update_monitor(monitor: MonitorModel, changes: Mapping[str, Any]) -> MonitorModel:
    """Change these attributes of the monitor and return it as stored now.

    An update of the named attributes, not a save of the whole item: a save would undo a
    concurrent address_count change and re-create a monitor deleted meanwhile."""
    actions = [
        getattr(MonitorModel, name).remove() if value is None else getattr(MonitorModel, name).set(value)
        for name, value in changes.items()
    ]
    actions += [MonitorModel.updated_at.set(int(time.time())), MonitorModel.version.add(1)]
    try:
        monitor.update(actions=actions, condition=MonitorModel.monitor_id.exists())
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise MonitorNotFound(monitor.monitor_id) from None
    bump_monitors_version()
    return monitor


SECRET_ROTATION_GRACE_SECONDS = 24 * 3600
_ROTATION_TRIES = 3


class RotationConflict(RuntimeError):
    """Other rotations of the same monitor kept winning the race."""


def rotate_secret(monitor: MonitorModel, box: KmsSecretBox, now: float | None = None) -> tuple[MonitorModel, str]:
    """Give the monitor a new secret; the one it replaces keeps signing for SECRET_ROTATION_GRACE_SECONDS.

    Only the secret being replaced is kept: a second rotation within the grace period drops the
    oldest one. The write is conditional on the (sealed) secret read, so two concurrent rotations
    cannot both keep the same previous secret (the loser reads again and rotates on top). Returns
    the monitor as stored now and the new secret in the clear. Raises MonitorNotFound when it is gone."""
    secret = new_secret()
    sealed = box.seal(secret, monitor.monitor_id)
    current = monitor
    for _ in range(_ROTATION_TRIES):
        at = int(time.time() if now is None else now)
        try:
            current.update(
                actions=[
                    MonitorModel.sealed_secret.set(sealed),
                    MonitorModel.sealed_previous_secret.set(current.sealed_secret),
                    MonitorModel.previous_secret_expires_at.set(at + SECRET_ROTATION_GRACE_SECONDS),
                    MonitorModel.updated_at.set(at),
                ],
                condition=MonitorModel.monitor_id.exists()
                & (MonitorModel.sealed_secret == current.sealed_secret),
            )
            return current, secret
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
        current = get_monitor(current.tenant_id, current.monitor_id)  # gone: MonitorNotFound
    raise RotationConflict(f"monitor {monitor.monitor_id} is being rotated concurrently")


def delete_monitor(monitor: MonitorModel) -> None:
    # Remove the monitor first: from the next matcher batch on, its addresses lead nowhere.
    monitor.delete()
    bump_monitors_version()
    addresses = [
        item.address for item in MonitorAddressModel.query(monitor.monitor_id, attributes_to_get=["address"])
    ]
    _delete_address_items(monitor.monitor_id, addresses)


def all_monitors() -> Iterator[MonitorModel]:
    """Every monitor of every tenant (the matcher's view; thousands, not millions)."""
    return MonitorModel.scan()


def add_addresses(monitor: MonitorModel, labelled: Sequence[tuple[str, str | None]]) -> int:
    """Watch these (address, label) pairs; an address already watched gets its new label.

    Returns how many addresses are new to the monitor."""
    existing = _existing_addresses(monitor.monitor_id, [address for address, _ in labelled])
    _write_address_items(monitor.monitor_id, monitor.tenant_id, labelled)
    added = len({address for address, _ in labelled} - existing)
    if added:
        _adjust_address_count(monitor, added)
    bump_monitors_version(_heads(monitor), [address for address, _ in labelled])
    return added


def remove_addresses(monitor: MonitorModel, addresses: Sequence[str]) -> int:
    existing = _existing_addresses(monitor.monitor_id, addresses)
    _delete_address_items(monitor.monitor_id, sorted(existing))
    if existing:
        _adjust_address_count(monitor, -len(existing))
    bump_monitors_version()
    return len(existing)


def list_addresses(
    monitor_id: str, limit: int, cursor: str | None
) -> tuple[list[MonitorAddressModel], str | None]:
    """A page of the monitor's watched addresses (ordered by address) and the next page's cursor.

    Raises InvalidCursor for a cursor of another monitor or one this API did not return."""
    start = decode_cursor(cursor, MONITOR_ADDRESS_KEY, {"monitor_id": monitor_id})
    items = list(
        MonitorAddressModel.query(monitor_id, limit=limit + 1, last_evaluated_key=start, consistent_read=True)
    )
    if len(items) <= limit:
        return items, None
    last = items[limit - 1]
    return items[:limit], encode_cursor(
        {"monitor_id": {"S": last.monitor_id}, "address": {"S": last.address}}
    )


def watchers_of(addresses: Iterable[str]) -> dict[str, list[AddressIndexModel]]:
    """For each address, the monitors watching it, one Query per address (run in parallel).

    Called only for the prefilter's candidates, so its cost follows the matches."""
    unique = sorted(set(addresses))
    if not unique:
        return {}

    def query(address: str) -> tuple[str, list[AddressIndexModel]]:
        return address, list(AddressIndexModel.query(address))

    if len(unique) == 1:
        return dict([query(unique[0])])
    with ThreadPoolExecutor(max_workers=min(16, len(unique))) as pool:
        return dict(pool.map(query, unique))


def all_watched_addresses() -> set[str]:
    return {item.address for item in AddressIndexModel.scan(attributes_to_get=["address"])}


def _adjust_address_count(monitor: MonitorModel, delta: int) -> None:
    # The condition keeps an update racing a delete from re-creating a half monitor.
    try:
        monitor.update(
            actions=[MonitorModel.address_count.add(delta)], condition=MonitorModel.monitor_id.exists()
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise MonitorNotFound(monitor.monitor_id) from None


def _heads(monitor: MonitorModel) -> dict[int, int]:
    """The heads of the monitor's chains as ingest last saw them: its new addresses are
    matched from there (CONTRACT section 2)."""
    heads = {}
    for chain_id in monitor.chain_ids:
        head = load_checkpoint(int(chain_id)).head
        if head is not None:
            heads[int(chain_id)] = head
    return heads


def _write_address_items(monitor_id: str, tenant_id: str, labelled: Sequence[tuple[str, str | None]]) -> None:
    now = int(time.time())
    with MonitorAddressModel.batch_write() as monitor_side, AddressIndexModel.batch_write() as index_side:
        for address, label in labelled:
            monitor_side.save(MonitorAddressModel(monitor_id, address, label=label, added_at=now))
            index_side.save(AddressIndexModel(address, monitor_id, tenant_id=tenant_id, label=label))


def _existing_addresses(monitor_id: str, addresses: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(addresses))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        keys = [(monitor_id, address) for address in unique[start : start + BATCH_GET_LIMIT]]
        found.update(
            item.address for item in MonitorAddressModel.batch_get(keys, attributes_to_get=["address"])
        )
    return found


def _delete_address_items(monitor_id: str, addresses: Sequence[str]) -> None:
    with MonitorAddressModel.batch_write() as monitor_side, AddressIndexModel.batch_write() as index_side:
        for address in addresses:
            monitor_side.delete(MonitorAddressModel(monitor_id, address))
            index_side.delete(AddressIndexModel(address, monitor_id))
