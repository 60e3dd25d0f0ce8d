"""The event-kinds module is the one description: the events a block makes, the docs and the API agree with it."""

from __future__ import annotations

import typing
from pathlib import Path

import jsonschema
import pytest

from blockhook.api.models import DEFAULT_KINDS, EventKind
from blockhook.chain import kinds
from blockhook.chain.events import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC, block_events
from blockhook.chain.reader import RawBlock
from blockhook.chain.traces import CALL_TRACER
from blockhook.matching.conditions import KNOWN_FIELDS, compile_condition
from blockhook.matching.matcher import emitter, parties

ROOT = Path(__file__).resolve().parents[3]
A, B, C = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
BLOCK_HASH = "0x" + "ab" * 32


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _word(value: int) -> str:
    return f"{value:064x}"


def every_kind_block() -> RawBlock:
    """One block that makes an event of every kind."""
    logs = [
        {"address": C, "topics": [TRANSFER_TOPIC, _topic(A), _topic(B)], "data": "0x" + _word(5), "logIndex": "0x0"},
        {"address": C, "topics": [TRANSFER_TOPIC, _topic(A), _topic(B), "0x" + _word(9)], "data": "0x", "logIndex": "0x1"},
        {"address": C, "topics": [TRANSFER_SINGLE_TOPIC, _topic(A), _topic(A), _topic(B)],
         "data": "0x" + _word(1) + _word(2), "logIndex": "0x2"},
        {"address": C, "topics": [TRANSFER_BATCH_TOPIC, _topic(A), _topic(A), _topic(B)],
         "data": "0x" + _word(64) + _word(128) + _word(1) + _word(3) + _word(1) + _word(4), "logIndex": "0x3"},
    ]  # fmt: skip
    tx = {"hash": "0x" + "01" * 32, "transactionIndex": "0x0", "from": A, "to": C, "value": "0x5",
          "input": "0xa9059cbb", "type": "0x2"}  # fmt: skip
    receipt = {"transactionHash": tx["hash"], "status": "0x1", "gasUsed": "0x5208", "contractAddress": None, "logs": logs}
    trace = {"type": "CALL", "from": A, "to": C, "value": "0x5", "calls": [{"type": "CALL", "from": C, "to": B, "value": "0x2"}]}
    withdrawal = {"index": "0x1", "validatorIndex": "0x2", "address": B, "amount": "0x3"}
    return RawBlock(7, BLOCK_HASH, "0x" + "cd" * 32, 1_700_000_000, [tx], [receipt], withdrawals=[withdrawal],
                    traces=[{"txHash": tx["hash"], "result": trace}], trace_format=CALL_TRACER)  # fmt: skip


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
