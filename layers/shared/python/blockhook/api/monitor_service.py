"""The rules of monitors as the API applies them: what a create, a change of addresses or a range of
past blocks may ask for, and the stored changes they make.

This module knows nothing of HTTP: it refuses with the domain errors below (and the store's own,
such as BackfillConflict), which the resolver's one error table turns into answers (api/resolver.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from blockhook.api.models import (
    MAX_ADDRESSES_PER_CALL,
    MAX_ADDRESSES_PER_MONITOR,
    Filters,
    LabelledAddress,
    MonitorCreate,
    MonitorPatch,
)
from blockhook.chain.kinds import TRACE_KINDS
from blockhook.chain.registry import DEFAULT_CONFIRMATIONS, ChainConfig, load_chains
from blockhook.config import settings
from blockhook.delivery.url_policy import WebhookUrlRefused, validate_webhook_url
from blockhook.matching.conditions import ConditionError, cached_condition
from blockhook.store import monitors as store
from blockhook.store.backfills import backfill_reach
from blockhook.store.chain_state import Checkpoint, load_checkpoint, load_node_heads, serves_traces
from blockhook.store.models import MonitorModel
from blockhook.store.secret_box import configured_secret_box

MAX_BACKFILL_BLOCKS = 100_000


class Refused(Exception):
    """A request the rules refuse: `code` names the rule broken, `details` what helps to fix it."""

    def __init__(self, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []


class Invalid(Refused):
    """The request names something that cannot be: a chain not served, a range past the head, ..."""


class Conflict(Refused):
    """The request is valid, but a limit is reached or the current state of things stands in its way."""


class TooLarge(Refused):
    """The request asks for more in one call than one call may carry."""


class ConfigurationError(Exception):
    """The deployment is set up wrong; no request can fix it."""


@lru_cache(maxsize=1)
def known_chains() -> dict[int, ChainConfig]:
    return {chain.chain_id: chain for chain in load_chains(chain_id_of=_no_rpc)}


def _no_rpc(url: str) -> int:
    # The API never calls a node; its environment lists the chains with their ids.
    raise ConfigurationError("BLOCKHOOK_CHAINS must list chain ids for the API")


def check_semantics(
    chain_ids: list[int] | None, webhook_url: str | None, condition: str | None, confirmations: int | None
) -> None:
    chains = known_chains()
    unknown = [chain_id for chain_id in chain_ids or [] if chains and chain_id not in chains]
    if unknown:
        raise Invalid("unknown_chain", f"chain ids not served here: {unknown}", [{"known": sorted(chains)}])
    if webhook_url is not None:
        try:
            validate_webhook_url(webhook_url, settings().allow_private_webhooks)
        except WebhookUrlRefused as refused:
            raise Invalid("invalid_webhook_url", str(refused)) from None
    if condition is not None:
        try:
            cached_condition(condition)  # compiled once here, and cached for the answer's process
        except ConditionError as refused:
            raise Invalid("invalid_condition", str(refused)) from None


def confirmation_fields(confirmations: int | str | None) -> dict[str, Any]:
    """A number of blocks is stored as `confirmations`, a finality tag as `finality`; null clears both."""
    if isinstance(confirmations, str):
        return {"confirmations": None, "finality": confirmations}
    return {"confirmations": confirmations, "finality": None}


def check_traces(chain_ids: list[int], kinds: list[str]) -> None:
    """A kind read from call traces, on a chain whose node serves none, would never match: refuse it."""
    wanted = sorted(TRACE_KINDS.intersection(kinds))
    if not wanted:
        return
    chains = known_chains()
    for chain_id in chain_ids:
        chain = chains.get(chain_id)
        traced = serves_traces(chain_id, chain.traces if chain else "auto")
        if traced is False:
            raise Invalid(
                "traces_unavailable", f"chain {chain_id} does not serve call traces, so it has no {wanted[0]} events"
            )
        if traced is None:
            raise Invalid(
                "traces_unknown",
                f"whether chain {chain_id} serves call traces is not known yet (ingest asks its node when it "
                f"starts): try again in a minute, or set the chain's traces in its configuration",
            )


def labelled(items: list[str | LabelledAddress]) -> list[tuple[str, str | None]]:
    pairs: dict[str, str | None] = {}
    for item in items:
        if isinstance(item, LabelledAddress):
            pairs[item.address] = item.label
        else:
            pairs[item] = None
    return list(pairs.items())


def check_address_limits(monitor: MonitorModel | None, adding: int, total_items: int) -> None:
    if total_items > MAX_ADDRESSES_PER_CALL:
        raise TooLarge("too_many_addresses", f"at most {MAX_ADDRESSES_PER_CALL} addresses a call")
    current = int(monitor.address_count or 0) if monitor else 0
    if current + adding > MAX_ADDRESSES_PER_MONITOR:
        raise Conflict("address_limit", f"a monitor holds at most {MAX_ADDRESSES_PER_MONITOR} addresses")


def filter_fields(filters: Filters, only_given: bool = False) -> dict[str, Any]:
    """The stored filter attributes; with only_given, just those the request named (PATCH merges)."""
    fields = {
        "kinds": list(dict.fromkeys(filters.kinds)),
        "contracts": sorted(set(filters.contracts)),
        "event_signatures": list(dict.fromkeys(filters.event_signatures)),
    }
    if only_given:
        return {name: value for name, value in fields.items() if name in filters.model_fields_set}
    return fields


def create_monitor(tenant_id: str, body: MonitorCreate) -> tuple[MonitorModel, str]:
    """The new monitor, stored, and its secret in the clear."""
    check_semantics(body.chain_ids, body.webhook_url, body.condition, body.confirmations)
    check_traces(body.chain_ids, body.filters.kinds)
    given = body.filters.addresses
    addresses = None if given is None else labelled(given)  # None: every party
    check_address_limits(None, len(addresses or ()), len(given or ()))
    if store.count_monitors(tenant_id) >= settings().max_monitors_per_tenant:
        raise Conflict("monitor_limit", f"a tenant holds at most {settings().max_monitors_per_tenant} monitors")
    return store.create_monitor(
        tenant_id,
        {
            "name": body.name,
            "chain_ids": sorted(set(body.chain_ids)),
            "webhook_url": body.webhook_url,
            "condition": body.condition,
            **confirmation_fields(body.confirmations),
            "active": body.active,
            **filter_fields(body.filters),
        },
        configured_secret_box(),
        addresses,
    )


def patch_monitor(monitor: MonitorModel, body: MonitorPatch) -> MonitorModel:
    """The monitor with the fields the PATCH names changed, as stored now."""
    given = body.model_fields_set
    check_semantics(
        None,
        body.webhook_url if "webhook_url" in given else None,
        body.condition if "condition" in given else None,
        body.confirmations if "confirmations" in given else None,
    )
    if body.filters is not None and "kinds" in body.filters.model_fields_set:
        check_traces([int(chain_id) for chain_id in monitor.chain_ids], body.filters.kinds)
    changes: dict[str, Any] = {}
    for name in ("name", "webhook_url", "active"):
        value = getattr(body, name)
        if name in given and value is not None:
            changes[name] = value
    if "condition" in given:
        changes["condition"] = body.condition
    if "confirmations" in given:
        changes.update(confirmation_fields(body.confirmations))
    if body.filters is not None:
        # A partial filters object changes only the filters it names, like a JSON merge patch.
        changes.update(filter_fields(body.filters, only_given=True))
    new_endpoint = changes.get("webhook_url") not in (None, monitor.webhook_url)
    if body.filters is not None and "addresses" in body.filters.model_fields_set:
        # The addresses and the rest of the PATCH take effect together, as one change.
        monitor = _replace_addresses(monitor, body.filters.addresses, changes)
    else:
        monitor = store.update_monitor(monitor, changes)
    if new_endpoint:
        from blockhook.wiring import delivery_service  # the queue, only when there may be waiting deliveries

        delivery_service().endpoint_changed(monitor)
    return monitor


def _replace_addresses(
    monitor: MonitorModel, addresses: list[str | LabelledAddress] | None, settings: dict[str, Any]
) -> MonitorModel:
    """filters.addresses given to PATCH: a list makes the monitor watch exactly it, null every party."""
    if addresses is None:
        return store.change_addresses(monitor, [], [], replace=True, scope=store.SCOPE_ALL, settings=settings)[2]
    wanted = labelled(addresses)
    check_address_limits(None, len(wanted), len(addresses))
    return store.change_addresses(monitor, wanted, [], replace=True, scope=store.SCOPE_LIST, settings=settings)[2]


def change_addresses(
    monitor: MonitorModel, add: list[str | LabelledAddress], remove: list[str]
) -> tuple[int, int, MonitorModel]:
    """Add and remove watched addresses in one change; how many were added and removed, and the monitor."""
    adding = labelled(add)
    check_address_limits(monitor, len(adding), len(add) + len(remove))
    # One change: the adds and removes take effect together.
    return store.change_addresses(monitor, adding, sorted(set(remove)))


def confirmations_by_chain(monitor: MonitorModel) -> dict[int, int | str]:
    """The monitor's confirmations on each of its chains: its finality tag or number, or the chain's default."""
    chains = known_chains()
    return {
        int(chain_id): monitor.finality or (
            int(monitor.confirmations) if monitor.confirmations is not None
            else chains[chain_id].confirmations if chain_id in chains else DEFAULT_CONFIRMATIONS.get(chain_id, 0)
        )
        for chain_id in (int(value) for value in monitor.chain_ids)
    }  # fmt: skip


def past_range(monitor: MonitorModel, chain_id: int | None, from_block: int, to_block: int, what: str) -> int:
    """The chain of a range of past blocks to read again for the monitor (backfill, reconcile), once
    the range is one it may read: bounded, ingested, covered by the monitor's confirmations."""
    chain_ids = [int(chain_id) for chain_id in monitor.chain_ids]
    chain_id = chain_id if chain_id is not None else (chain_ids[0] if len(chain_ids) == 1 else None)
    if chain_id is None:
        raise Invalid("chain_required", "the monitor watches several chains: name one in chain_id")
    if chain_id not in chain_ids:
        raise Invalid("unknown_chain", f"the monitor does not watch chain {chain_id}")
    if to_block < from_block:
        raise Invalid("invalid_range", "to_block is before from_block")
    if to_block - from_block + 1 > MAX_BACKFILL_BLOCKS:
        raise Invalid("range_too_large", f"at most {MAX_BACKFILL_BLOCKS} blocks {what}")
    checkpoint = load_checkpoint(chain_id)
    check_backfill_reach(monitor, checkpoint, to_block)
    last = checkpoint.number
    if last is None or to_block > last:
        # Later blocks are matched live; these calls cover what already went by.
        raise Invalid("beyond_head", f"to_block {to_block} is past the last block ingested ({last})")
    return chain_id


def check_backfill_reach(monitor: MonitorModel, checkpoint: Checkpoint, to_block: int) -> None:
    """Refuse a backfill past the blocks the monitor's confirmations already cover."""
    chain_id, head = checkpoint.chain_id, checkpoint.head
    confirmations: int | str
    if monitor.finality:
        confirmations = monitor.finality
    elif monitor.confirmations is not None:
        confirmations = int(monitor.confirmations)
    else:
        chain = known_chains().get(chain_id)
        confirmations = chain.confirmations if chain is not None else DEFAULT_CONFIRMATIONS.get(chain_id, 0)
    node = load_node_heads(chain_id) if isinstance(confirmations, str) else None
    reach = backfill_reach(checkpoint, confirmations, node)
    if reach is None:
        what = f"{confirmations} block" if isinstance(confirmations, str) else "head"
        raise Conflict("head_unknown", f"the {what} of chain {chain_id} is not known yet: retry once ingest has seen it")
    if to_block > reach:
        covered = (
            f"the node's {confirmations} block" if isinstance(confirmations, str)
            else f"the last that the monitor's {confirmations} confirmations cover at head {head}"
        )  # fmt: skip
        raise Invalid(
            "unconfirmed_blocks",
            f"to_block {to_block} is above block {reach}, {covered}: later blocks could still be replaced by a reorg",
            [{"last_block": reach, "head": head, "confirmations": confirmations}],
        )
