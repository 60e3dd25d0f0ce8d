"""Carries out an apply plan through the API: creates, PATCHes of the fields that differ, address calls,
deletes. Each step is printed as it is done; a failed call stops the run, and applying again finishes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from blockhook_cli.addresses import Entry, batches
from blockhook_cli.client import Client, quoted
from blockhook_cli.plan import MonitorPlan, Plan, show
from blockhook_cli.spec import DesiredMonitor

Echo = Callable[[str], None]


def create_body(monitor: DesiredMonitor, first: list[Entry] | None) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "kinds": monitor.kinds, "contracts": monitor.contracts, "event_signatures": monitor.event_signatures,
    }  # fmt: skip
    if first is not None:
        filters["addresses"] = [entry.item() for entry in first]
    return {
        "name": monitor.name, "chain_ids": monitor.chain_ids, "webhook_url": monitor.webhook_url,
        "filters": filters, "condition": monitor.condition, "confirmations": monitor.confirmations,
        "active": monitor.active,
    }  # fmt: skip


def send_addresses(
    client: Client, monitor_id: str, add: list[Entry], remove: list[str] | None = None, label: str = "addresses"
) -> tuple[int, int]:
    """The adds and removes in calls of at most 10,000, with a progress bar (on stderr) over several calls;
    how many the API added and removed."""
    calls = list(batches(add, remove))
    added = removed = 0
    total = len(add) + len(remove or ())
    with click.progressbar(
        length=total, label=label, file=click.get_text_stream("stderr"), show_pos=True
    ) if len(calls) > 1 else _NoBar() as bar:  # fmt: skip
        for adds, removes in calls:
            body: dict[str, Any] = {"add": [entry.item() for entry in adds]}
            if removes:
                body["remove"] = removes
            answer = client.post(f"/monitors/{quoted(monitor_id)}/addresses", body)
            added += answer["added"]
            removed += answer["removed"]
            bar.update(len(adds) + len(removes))
    return added, removed


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, _steps: int) -> None:
        return None


def execute(client: Client, plan: Plan, echo: Echo) -> None:
    for monitor in plan.monitors:
        if monitor.action == "create":
            _create(client, monitor, echo)
        elif monitor.action == "update":
            _update(client, monitor, echo)
        elif monitor.action == "delete":
            client.delete(f"/monitors/{quoted(monitor.monitor_id or '')}")
            echo(f"- deleted {monitor.name!r} ({monitor.monitor_id})")
        else:
            echo(f"= unchanged {monitor.name!r} ({monitor.monitor_id})")


def _create(client: Client, plan: MonitorPlan, echo: Echo) -> None:
    desired = plan.desired
    assert desired is not None
    calls = list(batches(plan.add)) if desired.addresses is not None else []
    first = (calls[0][0] if calls else []) if desired.addresses is not None else None
    created = client.post("/monitors", create_body(desired, first))
    echo(f"+ created {plan.name!r} ({created['id']})")
    echo(f"  secret: {created['secret']}")
    echo("  (the secret is shown only now: store it where the webhook receiver reads it)")
    rest = plan.add[len(first or ()) :]
    if rest:
        send_addresses(client, created["id"], rest, label=f"{plan.name}: addresses")
        echo(f"  {len(plan.add)} addresses")


def _update(client: Client, plan: MonitorPlan, echo: Echo) -> None:
    monitor_id = plan.monitor_id or ""
    body = plan.patch_body()
    add, remove = plan.add, plan.remove
    if plan.scope:
        if plan.scope[1] == "list":
            # The scope changes with the first addresses in one PATCH: the monitor never watches nothing
            # between its old scope and its new list.
            calls = list(batches(add))
            first = calls[0][0] if calls else []
            body.setdefault("filters", {})["addresses"] = [entry.item() for entry in first]
            add = add[len(first) :]
        else:
            body.setdefault("filters", {})["addresses"] = None
            add, remove = [], []
    echo(f"~ updated {plan.name!r} ({monitor_id})")
    if body:
        client.patch(f"/monitors/{quoted(monitor_id)}", body)
        for change in plan.changes:
            echo(f"    {change.field}: {show(change.before)} -> {show(change.after)}")
        if plan.scope:
            echo(f"    address scope: {plan.scope[0]} -> {plan.scope[1]}")
    if add or remove:
        added, removed = send_addresses(client, monitor_id, add, remove, label=f"{plan.name}: addresses")
        relabelled = f", {plan.relabelled} relabelled" if plan.relabelled else ""
        echo(f"    addresses: {added} added, {removed} removed{relabelled}")
