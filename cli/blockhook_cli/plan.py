"""What `apply` changes: the file's monitors against the tenant's, matched by name. Pure: the caller fetches
the monitors (and the addresses of those whose list is compared) and carries the plan out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blockhook_cli.addresses import Entry
from blockhook_cli.spec import DesiredMonitor


class PlanError(Exception):
    """The file asks for something the API cannot do, or names a monitor the tenant has twice."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class Change:
    field: str  # as in a PATCH body: "webhook_url", "filters.kinds", ...
    before: Any
    after: Any


@dataclass
class MonitorPlan:
    action: str  # "create", "update", "unchanged", "delete"
    name: str
    monitor_id: str | None = None
    desired: DesiredMonitor | None = None
    changes: list[Change] = field(default_factory=list)
    scope: tuple[str, str] | None = None  # (before, after) address scope: "all" or "list"
    add: list[Entry] = field(default_factory=list)  # new addresses, and listed ones given a new label
    remove: list[str] = field(default_factory=list)
    relabelled: int = 0  # of `add`: addresses listed already, under another label

    def patch_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for change in self.changes:
            if change.field.startswith("filters."):
                body.setdefault("filters", {})[change.field.removeprefix("filters.")] = change.after
            else:
                body[change.field] = change.after
        return body


@dataclass
class Plan:
    monitors: list[MonitorPlan]
    untouched: int = 0  # the tenant's monitors not in the file, left as they are (no --prune)

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
        for monitor in self.monitors:
            counts[monitor.action] += 1
        return counts

    @property
    def changes_anything(self) -> bool:
        return any(monitor.action != "unchanged" for monitor in self.monitors)


def by_name(current: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for monitor in current:
        found.setdefault(monitor["name"], []).append(monitor)
    return found


def needs_addresses(desired: DesiredMonitor, current: dict[str, Any]) -> bool:
    """Whether the plan compares this monitor's listed addresses (both sides hold a list)."""
    return desired.addresses is not None and current["filters"]["address_scope"] == "list"


def make_plan(
    desired: list[DesiredMonitor],
    current: list[dict[str, Any]],
    addresses_of: Callable[[str], list[dict[str, Any]]],
    prune: bool = False,
) -> Plan:
    """The plan; `addresses_of(monitor_id)` answers a monitor's listed addresses (address, label), asked only
    for monitors where needs_addresses() holds."""
    named = by_name(current)
    problems = []
    for monitor in desired:
        matches = named.get(monitor.name, [])
        if len(matches) > 1:
            ids = ", ".join(match["id"] for match in matches)
            problems.append(f"{monitor.name!r}: the tenant has {len(matches)} monitors of that name ({ids}); rename or delete all but one")
        elif matches and sorted(set(matches[0]["chain_ids"])) != monitor.chain_ids:
            problems.append(
                f"{monitor.name!r}: chain_ids {sorted(matches[0]['chain_ids'])} -> {monitor.chain_ids}: a monitor's "
                f"chains cannot be changed; delete it (or give the new one another name)"
            )
    if problems:
        raise PlanError(problems)
    plans = []
    for monitor in desired:
        matches = named.get(monitor.name)
        if not matches:
            plans.append(MonitorPlan("create", monitor.name, desired=monitor, add=list(monitor.addresses or ())))
            continue
        existing = matches[0]
        plan = MonitorPlan("update", monitor.name, monitor_id=existing["id"], desired=monitor)
        plan.changes = field_changes(monitor, existing)
        before_scope = existing["filters"]["address_scope"]
        after_scope = "all" if monitor.addresses is None else "list"
        if before_scope != after_scope:
            plan.scope = (before_scope, after_scope)
            plan.add = list(monitor.addresses or ())
        elif after_scope == "list":
            plan.add, plan.remove, plan.relabelled = address_changes(monitor.addresses or [], addresses_of(existing["id"]))
        if not (plan.changes or plan.scope or plan.add or plan.remove):
            plan.action = "unchanged"
        plans.append(plan)
    wanted = {monitor.name for monitor in desired}
    others = [monitor for monitor in current if monitor["name"] not in wanted]
    if prune:
        plans += [MonitorPlan("delete", monitor["name"], monitor_id=monitor["id"]) for monitor in others]
    return Plan(plans, untouched=0 if prune else len(others))


def field_changes(desired: DesiredMonitor, current: dict[str, Any]) -> list[Change]:
    """The fields a PATCH must change, each as it is and as the file wants it. Lists whose order the API does
    not use (kinds, contracts, event signatures) compare as sets."""
    changes = []
    for name in ("webhook_url", "condition", "confirmations", "active"):
        if current.get(name) != getattr(desired, name):
            changes.append(Change(name, current.get(name), getattr(desired, name)))
    filters = current["filters"]
    for name in ("kinds", "contracts", "event_signatures"):
        before, after = filters.get(name) or [], getattr(desired, name)
        if set(before) != set(after):
            changes.append(Change(f"filters.{name}", before, after))
    return changes


def address_changes(desired: list[Entry], current: list[dict[str, Any]]) -> tuple[list[Entry], list[str], int]:
    """Adds (new addresses, and listed ones whose label the file changes), removes, and how many of the adds
    are relabels. An address the file lists without a label keeps the label it has, as the API does when
    one is added again without one."""
    have = {item["address"]: item.get("label") for item in current}
    add, relabelled = [], 0
    for entry in desired:
        if entry.address not in have:
            add.append(entry)
        elif entry.label is not None and have[entry.address] != entry.label:
            add.append(entry)
            relabelled += 1
    wanted = {entry.address for entry in desired}
    remove = [address for address in have if address not in wanted]
    return add, remove, relabelled


def render(plan: Plan, dry_run: bool) -> list[str]:
    """The plan as lines, one block per monitor."""
    lines = []
    for monitor in plan.monitors:
        if monitor.action == "create":
            desired = monitor.desired
            assert desired is not None
            scope = "every party" if desired.addresses is None else f"{len(desired.addresses)} addresses"
            lines.append(f"+ create {monitor.name!r} (chains {', '.join(map(str, desired.chain_ids))}, {scope})")
        elif monitor.action == "delete":
            lines.append(f"- delete {monitor.name!r} ({monitor.monitor_id})")
        elif monitor.action == "unchanged":
            lines.append(f"= unchanged {monitor.name!r} ({monitor.monitor_id})")
        else:
            lines.append(f"~ update {monitor.name!r} ({monitor.monitor_id})")
            for change in monitor.changes:
                lines.append(f"    {change.field}: {show(change.before)} -> {show(change.after)}")
            if monitor.scope:
                before, after = monitor.scope
                lines.append(
                    f"    address scope: {before} -> {after}"
                    + (f" ({len(monitor.add)} addresses)" if after == "list" else "")
                )
            elif monitor.add or monitor.remove:
                new = len(monitor.add) - monitor.relabelled
                extra = f", {monitor.relabelled} relabelled" if monitor.relabelled else ""
                lines.append(f"    addresses: {new} to add, {len(monitor.remove)} to remove{extra}")
    return lines + summary(plan, dry_run)


def summary(plan: Plan, dry_run: bool) -> list[str]:
    counts = plan.counts()
    summary = ", ".join(f"{counts[key]} {word}" for key, word in (
        ("create", "to create"), ("update", "to update"), ("delete", "to delete"), ("unchanged", "unchanged"),
    ))  # fmt: skip
    if not dry_run:
        summary = summary.replace("to create", "created").replace("to update", "updated").replace("to delete", "deleted")
    lines = [("Plan: " if dry_run else "Applied: ") + summary + "."]
    if plan.untouched:
        lines.append(f"{plan.untouched} monitors of the tenant are not in the file and stay as they are (--prune deletes them).")
    return lines


def show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "null" if value is None else repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
