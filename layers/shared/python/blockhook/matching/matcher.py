"""Which monitors an event matches (CONTRACT section 3), with no I/O.

The caller hands in the monitors, the addresses the prefilter let through, and who
watches each of those; everything here is pure so it can be checked against a
brute-force reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blockhook.chain.kinds import EMITTER_FIELDS, PARTY_FIELDS
from blockhook.matching.signatures import topic0

TRANSFER_TOPIC = topic0("Transfer(address,address,uint256)")
TRANSFER_SINGLE_TOPIC = topic0("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH_TOPIC = topic0("TransferBatch(address,address,address,uint256[],uint256[])")

# Topic 0 of the log a decoded kind came from (ERC-1155: see event_topic0s).
_KIND_TOPICS: dict[str, frozenset[str]] = {
    "erc20_transfer": frozenset({TRANSFER_TOPIC}),
    "erc721_transfer": frozenset({TRANSFER_TOPIC}),
    "erc1155_transfer": frozenset({TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC}),
}
_ERC1155_SUFFIX = ":erc1155_transfer"


@dataclass(frozen=True)
class MonitorView:
    """What the matcher needs of a monitor, in the shapes it tests fastest."""

    monitor_id: str
    tenant_id: str
    chain_ids: frozenset[int]
    kinds: frozenset[str]
    contracts: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    confirmations: int | str | None = None  # blocks, or "safe" / "finalized"; None: the chain's default
    active: bool = True
    watches_all_addresses: bool = False  # address scope "all": every party qualifies
    version: int = 1
    # Which of its address items count (store/monitors.py is_listed): the list's committed
    # version when the view was read, and the versions of changes that were aborted.
    list_version: int = 0
    aborted_lists: frozenset[int] = frozenset()
    # Compiled once when the view is built: anything with `evaluate(event) -> bool`.
    condition: Any = field(default=None, compare=False)
    # Decoders of `log` args by topic 0: anything with `decode(event) -> dict | None`.
    decoders: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Watcher:
    monitor_id: str
    label: str | None = None


@dataclass
class Match:
    monitor_id: str
    event: dict[str, Any]
    matched_addresses: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def delivered_event(self) -> dict[str, Any]:
        """The event as a delivery carries it (CONTRACT section 4)."""
        event = dict(self.event)
        event["matched_addresses"] = self.matched_addresses
        if self.labels:
            event["labels"] = self.labels
        return event


def parties(event: Mapping[str, Any]) -> list[str]:
    fields = PARTY_FIELDS.get(event.get("kind", ""), ())
    found = []
    for name in fields:
        value = event.get(name)
        if value and value not in found:
            found.append(value)
    return found


def emitter(event: Mapping[str, Any]) -> str | None:
    name = EMITTER_FIELDS.get(event.get("kind", ""))
    return event.get(name) if name else None


def event_topic0s(event: Mapping[str, Any]) -> frozenset[str]:
    kind = event.get("kind")
    if kind == "log":
        topics = event.get("topics") or []
        return frozenset(topics[:1])
    if kind == "erc1155_transfer":
        # Event ids (DESIGN "Ids") end in `:erc1155_transfer` for a TransferSingle and in
        # `:erc1155_transfer:<n>` for the n-th id of a TransferBatch: the log's topic 0 is known.
        event_id = str(event.get("id", ""))
        if event_id.endswith(_ERC1155_SUFFIX):
            return frozenset({TRANSFER_SINGLE_TOPIC})
        head, _, n = event_id.rpartition(":")
        if n.isdigit() and head.endswith(_ERC1155_SUFFIX):
            return frozenset({TRANSFER_BATCH_TOPIC})
    return _KIND_TOPICS.get(kind or "", frozenset())


def accepts(monitor: MonitorView, event: Mapping[str, Any]) -> bool:
    """Every filter of the monitor but the addresses and the condition (the cheap ones)."""
    if not monitor.active or event.get("chain_id") not in monitor.chain_ids:
        return False
    if event.get("kind") not in monitor.kinds:
        return False
    if monitor.contracts and emitter(event) not in monitor.contracts:
        return False
    return not (monitor.topics and monitor.topics.isdisjoint(event_topic0s(event)))


def qualified_event(monitor: MonitorView, event: dict[str, Any]) -> dict[str, Any] | None:
    """The event as this monitor sees it (a `log` with its decoded `args`) if every filter,
    condition included, holds; else None."""
    if not accepts(monitor, event):
        return None
    if monitor.decoders and event.get("kind") == "log":
        topics = event.get("topics") or ()
        decoder = monitor.decoders.get(topics[0]) if topics else None
        args = decoder.decode(event) if decoder is not None else None
        if args is not None:
            event = {**event, "args": args}
    if monitor.condition is not None and not monitor.condition.evaluate(event):
        return None
    return event


def match_events(
    events: Iterable[dict[str, Any]],
    monitors: Mapping[str, MonitorView],
    watchers: Mapping[str, Sequence[Watcher]],
    all_address_monitors: Sequence[MonitorView] = (),
) -> list[Match]:
    """Matches of every event, in event order.

    `watchers` maps each watched address among the events' parties to the monitors
    watching it; `all_address_monitors` are the monitors with no address filter."""
    matches: list[Match] = []
    for event in events:
        hits: dict[str, Match] = {}
        for party in parties(event):
            for watcher in watchers.get(party, ()):
                monitor = monitors.get(watcher.monitor_id)
                if monitor is None or monitor.watches_all_addresses:
                    continue
                match = hits.get(watcher.monitor_id)
                if match is None:
                    seen = qualified_event(monitor, event)
                    if seen is None:
                        continue
                    match = hits[watcher.monitor_id] = Match(watcher.monitor_id, seen)
                match.matched_addresses.append(party)
                if watcher.label is not None:
                    match.labels[party] = watcher.label
        for monitor in all_address_monitors:
            if monitor.monitor_id not in hits:
                seen = qualified_event(monitor, event)
                if seen is not None:
                    hits[monitor.monitor_id] = Match(monitor.monitor_id, seen)
        matches.extend(hits.values())
    return matches
