"""The matcher's in-memory view of monitors and watched addresses.

One version read per batch tells whether anything changed; only then is the view
reloaded. The prefilter (a set of every watched address) answers "could anyone
watch this?" without I/O, so a block with nothing watched costs no DynamoDB call;
candidates that pass it are looked up exactly in the address index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from blockhook.matching.conditions import ConditionError, cached_condition
from blockhook.matching.matcher import PARTY_FIELDS, MonitorView, Watcher
from blockhook.matching.signatures import InvalidSignature, topic0
from blockhook.store import monitors as monitor_store
from blockhook.store.models import MonitorModel
from blockhook.store.versions import Change, changes_between, monitors_version
from blockhook.streaming.codec import EventColumns

logger = logging.getLogger(__name__)


def monitor_view(model: MonitorModel) -> MonitorView:
    topics = set()
    decoders = {}
    for signature in model.event_signatures or []:
        try:
            topics.add(topic0(signature))
        except InvalidSignature:
            # The API refuses these; a stored one is ignored rather than failing every batch.
            logger.warning("stored monitor has an invalid event signature", extra={"monitor_id": model.monitor_id})
            continue
        # eth_abi (half a second of a cold start) is loaded once a monitor filters on an event.
        from blockhook.matching.log_args import decoder_for

        try:
            decoder = decoder_for(signature)
            decoders[decoder.topic0] = decoder
        except InvalidSignature:
            pass  # a filter that cannot be decoded (a bare topic hash, say): matched, sent without args
    condition = None
    active = bool(model.active)
    if model.condition:
        try:
            condition = cached_condition(model.condition)
        except ConditionError:
            # The API compiles conditions before saving; one that fails here matches nothing.
            logger.error("stored monitor condition does not compile", extra={"monitor_id": model.monitor_id})
            active = False
    return MonitorView(
        monitor_id=model.monitor_id,
        tenant_id=model.tenant_id,
        chain_ids=frozenset(int(chain_id) for chain_id in model.chain_ids),
        kinds=frozenset(model.kinds),
        contracts=frozenset(model.contracts or ()),
        topics=frozenset(topics),
        confirmations=model.finality or (None if model.confirmations is None else int(model.confirmations)),
        active=active,
        watches_all_addresses=monitor_store.address_scope(model) == monitor_store.SCOPE_ALL,
        version=int(model.version or 1),
        list_version=int(model.list_version or 0),
        aborted_lists=frozenset(int(version) for version in model.list_aborted or ()),
        condition=condition,
        decoders=decoders,
    )


class WatchIndex:
    # How long a change whose record is not readable yet may hold the view back before the
    # matcher gives up following changes and reloads everything.
    WAIT_FOR_CHANGE_SECONDS = 10.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.version: int | None = None
        self.previous_version: int | None = None
        self.changes: dict[int, Change] | None = None  # what the last refresh followed; None: unknown
        self.monitors: dict[str, MonitorView] = {}
        self.all_address_monitors: list[MonitorView] = []
        self.prefilter: frozenset[str] = frozenset()
        self.full_reloads = 0
        self._clock = clock
        self._waiting_since: float | None = None

    def refresh(self) -> bool:
        """Bring the view up to date if monitors or addresses changed since the last refresh.

        Added addresses are followed through the change records (no rereading of a million
        addresses for each add); the monitors, thousands at most, are read again."""
        version = monitors_version()
        if version == self.version:
            return False
        changes = None
        if self.version is not None:
            changes = changes_between(self.version, version)
            if changes is None and not self._waited_long_enough():
                return False  # a change's record is not written yet: keep this view one more batch
        if changes is not None and all(change.added is not None for change in changes.values()):
            # Removed addresses may stay in the prefilter: a candidate nobody watches costs one
            # query and matches nothing.
            prefilter = self.prefilter.union(*(change.added for change in changes.values()))
        else:
            prefilter = frozenset(monitor_store.all_watched_addresses())
            self.full_reloads += 1
        # Addresses before monitors: a monitor created in between is simply seen with no
        # addresses yet, and the next version change brings them.
        monitors = {model.monitor_id: monitor_view(model) for model in monitor_store.all_monitors()}
        self.monitors = monitors
        self.prefilter = prefilter
        self.all_address_monitors = [m for m in monitors.values() if m.watches_all_addresses and m.active]
        self.previous_version, self.version = self.version, version
        self.changes = changes
        self._waiting_since = None
        logger.info(
            "watch index refreshed",
            extra={"version": version, "monitors": len(monitors), "addresses": len(prefilter)},
        )
        return True

    def _waited_long_enough(self) -> bool:
        now = self._clock()
        if self._waiting_since is None:
            self._waiting_since = now
        return now - self._waiting_since >= self.WAIT_FOR_CHANGE_SECONDS

    def candidates(self, events: Iterable[dict[str, Any]]) -> set[str]:
        """The events' parties (matcher.parties) that someone may watch."""
        return self.candidates_and_events(events)[0]

    def candidates_and_events(self, events: Iterable[dict[str, Any]]) -> tuple[set[str], list[dict[str, Any]]]:
        """`candidates`, and the events that have one of them among their parties, in order: the
        only events a monitor with an address filter can match."""
        prefilter, fields = self.prefilter, PARTY_FIELDS
        found: set[str] = set()
        chosen = []
        # matcher.parties() inlined: this runs on every event of every block.
        for event in events:
            hit = False
            for name in fields.get(event.get("kind", ""), ()):
                value = event.get(name)
                if value and value in prefilter:
                    found.add(value)
                    hit = True
            if hit:
                chosen.append(event)
        return found, chosen

    def events_to_match(self, columns: EventColumns) -> list[dict[str, Any]]:
        """The events of a block (read from its message's columns) that some monitor may match, in
        order: those with a watched party, and those a monitor of every address may accept by their
        kind, chain and emitter. The others are never read."""
        everyone = [
            monitor for monitor in self.all_address_monitors
            if not monitor.kinds.isdisjoint(columns.kinds) and not monitor.chain_ids.isdisjoint(columns.chain_ids)
        ]  # fmt: skip
        if any(not monitor.contracts for monitor in everyone):
            return columns.all_events()
        wanted = self.prefilter.intersection(columns.addresses)
        for monitor in everyone:
            wanted = wanted.union(monitor.contracts.intersection(columns.addresses))
        return columns.events_of(wanted) if wanted else []

    def watchers(self, candidates: Iterable[str]) -> dict[str, list[Watcher]]:
        """Who watches each candidate, as of this view: an address item counts by the list version
        of the monitor as loaded, so a change written since (adds and removes alike) is seen whole
        at the next refresh, never half."""
        found = monitor_store.watchers_of(candidates)
        monitors, is_listed = self.monitors, monitor_store.is_listed
        watchers: dict[str, list[Watcher]] = {}
        for address, items in found.items():
            kept = watchers[address] = []
            for item in items:
                monitor = monitors.get(item.monitor_id)
                if monitor is not None and is_listed(
                    item.since, item.until, monitor.list_version, monitor.aborted_lists, item.earlier
                ):
                    kept.append(Watcher(item.monitor_id, item.label))
        return watchers
