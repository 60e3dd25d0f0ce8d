"""The event-kinds module is the one description: the events a block makes, the docs and the API agree with it."""

from __future__ import annotations

import typing
from pathlib import Path

import jsonschema
import pytest

from blockhook.api.models import DEFAULT_KINDS, EventKind
from blockhook.chain import kinds
from blockhook.chain.events import block_events
from blockhook.matching.conditions import KNOWN_FIELDS, compile_condition
from blockhook.matching.matcher import emitter, parties
from tests.support.builders import every_kind_block

ROOT = Path(__file__).resolve().parents[3]


def test_a_block_makes_events_of_exactly_the_described_shapes():
    events = block_events(1, every_kind_block())
    assert {event["kind"] for event in events} == set(kinds.KIND_NAMES)
    for event in events:
        kind = kinds.BY_NAME[event["kind"]]
        assert list(event) == [field.name for field in kind.all_fields()], event["kind"]
        jsonschema.validate(event, kinds.event_json_schema(kind))


def test_the_events_are_in_the_described_order():
    events = block_events(1, every_kind_block())
    assert events == sorted(events, key=kinds.order_key)


def test_parties_and_emitters_are_the_described_fields():
    for event in block_events(1, every_kind_block()):
        kind = kinds.BY_NAME[event["kind"]]
        assert parties(event) == list(dict.fromkeys(event[name] for name in kind.parties if event[name]))
        assert emitter(event) == (event[kind.emitter] if kind.emitter else None)


def test_the_api_offers_every_kind_and_the_described_defaults():
    assert typing.get_args(EventKind) == kinds.KIND_NAMES
    assert [kind.name for kind in kinds.KINDS if kind.default] == DEFAULT_KINDS


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda kind: kind.name)
def test_a_condition_may_read_every_field_of_every_kind(kind):
    for field in kind.fields:
        assert field.name in KNOWN_FIELDS
        compile_condition(f"has(event.{field.name}) || event.kind == 'x'")


def test_the_event_reference_in_docs_is_current():
    assert (ROOT / "docs/events.md").read_text(encoding="utf-8") == kinds.reference_markdown(), (
        "docs/events.md is stale: run `python -m blockhook.chain.kinds docs/events.md`"
    )
