"""Monitors and their watched addresses: reads and writes, each one bumping the
change counter the matcher watches.

A monitor watches every party (address scope "all") or only its listed addresses ("list").
Its list changes one change at a time, each one versioned: the change writes its added items
as counting from the next version (`since`) and marks its removed ones as ending there
(`until`), then commits that version on the monitor item. The matcher and the API count an item
by the version their copy of the monitor holds, so every change, adds and removes together,
takes effect at once: no reader ever sees a list half changed."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from blockhook.store.chain_state import load_checkpoint
from blockhook.store.models import AddressIndexModel, MonitorAddressModel, MonitorModel
from blockhook.store.paging import InvalidCursor, decode_cursor, encode_cursor
from blockhook.store.secret_box import KmsSecretBox, new_secret
from blockhook.store.versions import bump_monitors_version

logger = logging.getLogger(__name__)

BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem limit
MONITOR_KEY = frozenset({"tenant_id", "monitor_id"})
MONITOR_ADDRESS_KEY = frozenset({"monitor_id", "address"})

SCOPE_ALL = "all"  # every party of an event
SCOPE_LIST = "list"  # only the listed addresses; an empty list matches nothing
# How long an address change may hold its monitor's list before another call may take it over
# (the change's writer is then presumed dead): longer than any API call, which API Gateway ends
# at 29 s.
CHANGE_LEASE_SECONDS = 60
# How long a call waits for another change of the same monitor's list to finish.
CHANGE_WAIT_SECONDS = 10.0
# A removed address's items stay (not counted) until then, so that a reader whose copy of the
# monitor is older than the removal still finds them; DynamoDB's TTL then deletes them.
TOMBSTONE_SECONDS = 24 * 3600
# How many earlier spans an address removed and added again keeps, for readers holding an older
# version of the list (the matcher's copy is at most one batch old).
EARLIER_SPANS = 8


class MonitorNotFound(LookupError):
    pass


class AddressChangeBusy(RuntimeError):
    """Another change of the same monitor's list is still being written."""


class WatchesEveryParty(ValueError):
    """Addresses were added to a monitor whose scope is every party."""


def address_scope(monitor: MonitorModel) -> str:
    # A monitor stored before the scope was recorded is read as a list monitor, even with no
    # address: of the two readings it is the one that never sends what was not asked for.
    return monitor.address_scope or SCOPE_LIST


def is_listed(
    since: float | None,
    until: float | None,
    list_version: int,
    aborted: Collection[int],
    earlier: Sequence[float] | None = None,
) -> bool:
    """Whether an address item with these since/until (and earlier spans) counts for a monitor
    whose list is at `list_version` (items of an aborted change never count, nor do its removals)."""
    if _in_span(since, until, list_version, aborted):
        return True
    if earlier:
        for start in range(0, len(earlier) - 1, 2):
            if _in_span(earlier[start] or None, earlier[start + 1], list_version, aborted):
                return True
    return False


def _in_span(since: float | None, until: float | None, version: int, aborted: Collection[int]) -> bool:
    if since is not None and (since > version or since in aborted):
        return False
    return until is None or until > version or until in aborted


def listed_in(monitor: MonitorModel) -> Callable[[Any], bool]:
    """is_listed for the items of this monitor (as stored now or as read)."""
    version, aborted = int(monitor.list_version or 0), frozenset(int(v) for v in monitor.list_aborted or ())
    return lambda item: is_listed(item.since, item.until, version, aborted, item.earlier)


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
    addresses: Sequence[tuple[str, str | None]] | None = None,
) -> tuple[MonitorModel, str]:
    """Create a monitor; returns it and its new secret. With `addresses` (a list of (address,
    label) pairs, even empty) it watches only those; with None it watches every party.

    The secret is stored sealed by `box`; the one returned is the only clear copy. The addresses
    are written before the monitor, so that it is never seen without the ones it was made with."""
    now = int(time.time())
    monitor_id = new_monitor_id()
    secret = new_secret()
    sealed = box.seal(secret, monitor_id)  # first: a KMS failure leaves nothing half written
    unique = dict(addresses or ())
    items = [MonitorAddressModel(monitor_id, address, label=label, added_at=now) for address, label in unique.items()]
    _write_address_items(monitor_id, tenant_id, items)
    monitor = MonitorModel(
        tenant_id,
        monitor_id,
        sealed_secret=sealed,
        created_at=now,
        updated_at=now,
        address_count=len(unique),
        address_scope=SCOPE_ALL if addresses is None else SCOPE_LIST,
        list_version=0,
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
    try:
        monitor.update(actions=_setting_actions(changes), condition=MonitorModel.monitor_id.exists())
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        raise MonitorNotFound(monitor.monitor_id) from None
    bump_monitors_version()
    return monitor


def _setting_actions(changes: Mapping[str, Any]) -> list[Any]:
    actions = [
        getattr(MonitorModel, name).remove() if value is None else getattr(MonitorModel, name).set(value)
        for name, value in changes.items()
    ]
    return [*actions, MonitorModel.updated_at.set(int(time.time())), MonitorModel.version.add(1)]


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
    """Every monitor of every tenant (the matcher's view; thousands, not millions).

    Read consistently: the scan follows a change's version bump and must see that change's
    monitor item (its address scope and list version), not an older copy."""
    return MonitorModel.scan(consistent_read=True)


def add_addresses(monitor: MonitorModel, labelled: Sequence[tuple[str, str | None]]) -> int:
    """Watch these (address, label) pairs (see change_addresses); returns how many are new."""
    return change_addresses(monitor, labelled, ())[0]


def remove_addresses(monitor: MonitorModel, addresses: Sequence[str]) -> int:
    """Stop watching these addresses (see change_addresses); returns how many were watched."""
    return change_addresses(monitor, (), addresses)[1]


def change_addresses(
    monitor: MonitorModel,
    add: Sequence[tuple[str, str | None]],
    remove: Sequence[str],
    *,
    replace: bool = False,
    scope: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[int, int, MonitorModel]:
    """One change of the monitor's list, seen by every reader at once: watch `add` ((address,
    label) pairs) and stop watching `remove`; an address in both stays watched. With `replace`
    the list becomes `add` exactly. `scope` sets the address scope in the same change (SCOPE_ALL
    empties the list), and `settings` other attributes of the monitor, as update_monitor does.

    An address already listed keeps its label unless the add gives one. Returns how many
    addresses were added and removed, and the monitor as stored now. Raises WatchesEveryParty
    for an add (without `scope`) to a monitor of every party, AddressChangeBusy when another
    change of this monitor's list did not finish in time, MonitorNotFound when it is gone."""
    if scope is None and add and address_scope(monitor) == SCOPE_ALL:
        raise WatchesEveryParty(
            f"monitor {monitor.monitor_id} watches every party: set filters.addresses to a list first"
        )
    monitor, version = _begin_change(monitor)
    try:
        if scope is None and add and address_scope(monitor) == SCOPE_ALL:  # changed since the first look
            raise WatchesEveryParty(
                f"monitor {monitor.monitor_id} watches every party: set filters.addresses to a list first"
            )
        added, gone = _write_change(monitor, version, add, remove, replace=replace, scope=scope, settings=settings)
    except BaseException:
        _abort_change(monitor, version)
        raise
    if added or gone or scope is not None or settings is not None:
        bump_monitors_version(_heads(monitor) if added else None, added)
    return len(added), len(gone), monitor


def _write_change(
    monitor: MonitorModel,
    version: int,
    add: Sequence[tuple[str, str | None]],
    remove: Sequence[str],
    *,
    replace: bool,
    scope: str | None,
    settings: Mapping[str, Any] | None,
) -> tuple[list[str], set[str]]:
    """Write change `version` of the monitor's list and commit it; returns the added and removed addresses."""
    listed = listed_in(monitor)
    wanted = dict(add) if scope != SCOPE_ALL else {}
    if replace or scope == SCOPE_ALL:
        stored_items = list(_all_address_items(monitor.monitor_id))
        current = {item.address: item for item in stored_items if listed(item)}
        gone = set(current) - set(wanted)
    else:
        stored_items = _address_items(monitor.monitor_id, [*wanted, *remove])
        current = {item.address: item for item in stored_items if listed(item)}
        gone = (set(remove) & set(current)) - set(wanted)
    now = int(time.time())
    writes = []
    added = []
    stored = {item.address: item for item in stored_items}
    for address, label in wanted.items():
        item = current.get(address)
        if item is None:
            added.append(address)
            writes.append(
                MonitorAddressModel(
                    monitor.monitor_id, address, label=label, added_at=now, since=version,
                    earlier=_earlier_spans(stored.get(address)),
                )
            )
        elif (label is not None and label != item.label) or item.until is not None:
            # Kept as it is counted now (its since); an until on a listed item is a dead change's.
            keep = label if label is not None else item.label
            writes.append(
                MonitorAddressModel(
                    monitor.monitor_id, address, label=keep, added_at=item.added_at, since=item.since,
                    earlier=item.earlier,
                )
            )
    for address in sorted(gone):
        item = current[address]
        writes.append(
            MonitorAddressModel(
                monitor.monitor_id, address, label=item.label, added_at=item.added_at, since=item.since,
                until=version, earlier=item.earlier, expires_at=now + TOMBSTONE_SECONDS,
            )
        )
    _write_address_items(monitor.monitor_id, monitor.tenant_id, writes)
    actions = [
        MonitorModel.list_version.set(version),
        MonitorModel.list_pending.remove(),
        MonitorModel.list_pending_at.remove(),
        MonitorModel.address_count.add(len(added) - len(gone)),
    ]
    if scope is not None:
        actions.append(MonitorModel.address_scope.set(scope))
    if settings is not None:
        actions += _setting_actions(settings)
    try:
        # Conditional on still holding the change: the count moves once per change, never twice.
        monitor.update(actions=actions, condition=MonitorModel.monitor_id.exists() & (MonitorModel.list_pending == version))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        get_monitor(monitor.tenant_id, monitor.monitor_id)  # gone: MonitorNotFound
        raise AddressChangeBusy(f"the address change of monitor {monitor.monitor_id} took too long; retry") from None
    return added, gone


def _earlier_spans(item: MonitorAddressModel | None) -> list[int] | None:
    """The spans an address added again keeps from the item it replaces (a tombstone, or what a
    change that died wrote): the item's earlier spans and its own ended one, the last EARLIER_SPANS."""
    if item is None:
        return None
    spans = [int(value) for value in item.earlier or ()]
    if item.until is not None:
        spans += [int(item.since or 0), int(item.until)]
    return spans[-2 * EARLIER_SPANS :] or None


def _abort_change(monitor: MonitorModel, version: int) -> None:
    """Give the list back after a change that failed: whatever it wrote never counts."""
    try:
        monitor.update(
            actions=[
                MonitorModel.list_aborted.add({version}),
                MonitorModel.list_pending.remove(),
                MonitorModel.list_pending_at.remove(),
            ],
            condition=MonitorModel.monitor_id.exists() & (MonitorModel.list_pending == version),
        )
    except Exception:  # noqa: BLE001 - the lease then runs out instead; the first error is the one to raise
        logger.warning("could not abort an address change", extra={"monitor_id": monitor.monitor_id})


def _begin_change(monitor: MonitorModel) -> tuple[MonitorModel, int]:
    """Take the monitor's list for one change; returns the monitor as read then and the version
    the change writes. Waits for a change in progress; takes over one whose writer is presumed
    dead (its version is then aborted: what it wrote never counts)."""
    deadline = time.monotonic() + CHANGE_WAIT_SECONDS
    pause = 0.05
    while True:
        current = get_monitor(monitor.tenant_id, monitor.monitor_id)
        pending = None if current.list_pending is None else int(current.list_pending)
        now = int(time.time())
        dead = pending is not None and now - int(current.list_pending_at or 0) >= CHANGE_LEASE_SECONDS
        if pending is None or dead:
            aborted = {int(v) for v in current.list_aborted or ()}
            version = max(int(current.list_version or 0), pending or 0, *aborted, 0) + 1
            actions = [MonitorModel.list_pending.set(version), MonitorModel.list_pending_at.set(now)]
            if dead:
                actions.append(MonitorModel.list_aborted.add({pending}))
            held = MonitorModel.list_pending.does_not_exist() if pending is None else MonitorModel.list_pending == pending
            try:
                current.update(actions=actions, condition=MonitorModel.monitor_id.exists() & held)
                return current, version
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
        if time.monotonic() >= deadline:
            raise AddressChangeBusy(f"another address change of monitor {monitor.monitor_id} is in progress; retry")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def list_addresses(
    monitor: MonitorModel, limit: int, cursor: str | None, prefix: str = ""
) -> tuple[list[MonitorAddressModel], str | None]:
    """A page of the monitor's watched addresses (ordered by address) and the next page's cursor;
    with `prefix` (lowercase), only those starting with it.

    Raises InvalidCursor for a cursor of another monitor or one this API did not return, or one of
    addresses outside the prefix (DynamoDB refuses a start key outside the query's range)."""
    monitor_id = monitor.monitor_id
    start = decode_cursor(cursor, MONITOR_ADDRESS_KEY, {"monitor_id": monitor_id})
    if start is not None and not start["address"].get("S", "").startswith(prefix):
        raise InvalidCursor("cursor is not one of this prefix's pages")
    query = MonitorAddressModel.query(
        monitor_id,
        MonitorAddressModel.address.startswith(prefix) if prefix else None,
        last_evaluated_key=start,
        consistent_read=True,
        page_size=limit + 1,
    )
    items = list(itertools.islice(filter(listed_in(monitor), query), limit + 1))
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
    return dict(_lookup_pool().map(query, unique))


_POOL: ThreadPoolExecutor | None = None


def _lookup_pool() -> ThreadPoolExecutor:
    """One pool for the process's lookups: its threads are started once, not on every batch."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="watchers-of")
    return _POOL


def all_watched_addresses() -> set[str]:
    return {item.address for item in AddressIndexModel.scan(attributes_to_get=["address"])}


def _heads(monitor: MonitorModel) -> dict[int, int]:
    """The heads of the monitor's chains as ingest last saw them: its new addresses are
    matched from there (CONTRACT section 2)."""
    heads = {}
    for chain_id in monitor.chain_ids:
        head = load_checkpoint(int(chain_id)).head
        if head is not None:
            heads[int(chain_id)] = head
    return heads


def _write_address_items(monitor_id: str, tenant_id: str, items: Sequence[MonitorAddressModel]) -> None:
    """Write each monitor-side item and its address-index twin."""
    with MonitorAddressModel.batch_write() as monitor_side, AddressIndexModel.batch_write() as index_side:
        for item in items:
            monitor_side.save(item)
            index_side.save(
                AddressIndexModel(
                    item.address, monitor_id, tenant_id=tenant_id, label=item.label,
                    since=item.since, until=item.until, earlier=item.earlier, expires_at=item.expires_at,
                )
            )


def _address_items(monitor_id: str, addresses: Iterable[str]) -> list[MonitorAddressModel]:
    found: list[MonitorAddressModel] = []
    unique = sorted(set(addresses))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        keys = [(monitor_id, address) for address in unique[start : start + BATCH_GET_LIMIT]]
        found.extend(MonitorAddressModel.batch_get(keys, consistent_read=True))
    return found


def _all_address_items(monitor_id: str) -> Iterator[MonitorAddressModel]:
    return MonitorAddressModel.query(monitor_id, consistent_read=True)


def _delete_address_items(monitor_id: str, addresses: Sequence[str]) -> None:
    with MonitorAddressModel.batch_write() as monitor_side, AddressIndexModel.batch_write() as index_side:
        for address in addresses:
            monitor_side.delete(MonitorAddressModel(monitor_id, address))
            index_side.delete(AddressIndexModel(address, monitor_id))
