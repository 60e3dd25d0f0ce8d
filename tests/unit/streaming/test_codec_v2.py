"""Version 2 block messages: the header and address columns first, the events read only where asked,
from bytes or from the base64 text Lambda's Kafka event carries; version 1 read beside it."""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.chain.kinds import EMITTER_FIELDS, PARTY_FIELDS
from blockhook.streaming.codec import (
    V2_PREAMBLE_BYTES,
    BackfillTarget,
    Base64Value,
    BlockHeader,
    MalformedMessage,
    correlation_id_of,
    decode,
    encode_block,
)
from tests.unit.streaming.test_codec import HEADER, event, transaction_event

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from synthetic import make_block  # noqa: E402


def synthetic(seed: int, transactions: int = 20) -> tuple[BlockHeader, list[dict]]:
    fields, events = make_block(random.Random(seed), 1, 500 + seed, transactions=transactions)
    return BlockHeader(1, fields["number"], fields["hash"], fields["parent_hash"], fields["timestamp"]), events


def as_base64(value: bytes) -> Base64Value:
    return Base64Value(base64.b64encode(value).decode())


def of(event: dict) -> set[str]:
    """The addresses the columns list an event under: its parties and its emitter."""
    names = (*PARTY_FIELDS[event["kind"]], *([EMITTER_FIELDS[event["kind"]]] if event["kind"] in EMITTER_FIELDS else []))
    return {event[name] for name in names if event.get(name)}


def test_layout_header_and_whole_message_are_json():
    header, events = synthetic(1)
    (value,) = encode_block(header, events)
    document = json.loads(value)
    head_end, events_at, end = document["layout"]
    assert end == len(value) and value[events_at - 1 : events_at] == b"["
    head = json.loads(value[:head_end] + b"}")
    assert head["v"] == 2 and head["event_count"] == len(events) and "events" not in head
    assert set(head["addresses"]) == set().union(*(of(e) for e in events))
    assert set(head["kinds"]) == {e["kind"] for e in events} and head["chain_ids"] == [1]
    assert head["own_block_fields"] == [] and head["stand_ins"] == []
    for address, places in zip(document["addresses"], document["positions"], strict=True):
        assert places == [n for n, e in enumerate(events) if address in of(e)]
    # The block fields are written once, in the header, and given back in their place.
    assert "block_hash" not in document["events"][0]
    assert decode(value).events == events and [list(e) for e in decode(value).events] == [list(e) for e in events]


@pytest.mark.parametrize("source", ["bytes", "base64"])
def test_lazy_read_gives_the_events_of_an_address_and_all_of_them_as_a_whole_read_does(source):
    header, events = synthetic(2)
    (value,) = encode_block(header, events)
    message = decode(value if source == "bytes" else as_base64(value), lazy=True)
    whole = decode(value)
    assert message.columns is not None and len(message.events) == len(events)
    assert (message.header, message.chunk, message.chunks) == (whole.header, whole.chunk, whole.chunks)
    for address in (events[0]["from"], events[3]["token"] if "token" in events[3] else events[0]["to"]):
        assert message.columns.events_of({address}) == [e for e in events if address in of(e)]
    assert message.columns.events_of({"0x" + "00" * 20}) == []
    assert message.columns.all_events() == events == list(message.events)


def test_from_base64_only_the_header_is_decoded_when_nothing_is_asked():
    header, events = synthetic(3)
    (value,) = encode_block(header, events)
    text = as_base64(value)
    message = decode(text, lazy=True)
    assert correlation_id_of(text) == header.correlation_id
    head_end = json.loads(value)["layout"][0]
    assert text._whole is None and len(text._read) < head_end + 3 < len(value) / 5
    message.columns.events_of({events[0]["from"]})
    assert text._whole is None


def test_base64_with_line_breaks_is_read_whole_with_the_same_result():
    header, events = synthetic(4)
    (value,) = encode_block(header, events)
    wrapped = Base64Value(base64.encodebytes(value).decode())  # a line break every 76 characters
    message = decode(wrapped, lazy=True)
    assert message.columns is None and message.events == events
    assert correlation_id_of(wrapped) == header.correlation_id


def test_version_1_is_read_beside_version_2():
    header, events = synthetic(5)
    (old,) = encode_block(header, events, version=1)
    for value in (old, as_base64(old)):
        message = decode(value, lazy=True)
        assert message.columns is None and message.events == events and message.header == header
        assert correlation_id_of(value) == header.correlation_id


def test_backfill_and_events_of_other_blocks_are_read_whole():
    target = BackfillTarget("mon_1", "job_1")
    other_block = {**event(1), "block_hash": "0x" + "99" * 32}
    values = encode_block(HEADER, [event(0), other_block], backfill=target)
    message = decode(values[0], lazy=True)
    assert message.columns is None and message.backfill == target
    assert message.events == [event(0), other_block]
    document = json.loads(values[0])
    assert document["own_block_fields"] == [1] and "block_hash" in document["events"][1]


def test_stand_ins_are_listed_and_read_with_their_claim():
    events = [event(0), {**event(1), "claim": {"key": "k", "bytes": 5}}]
    (value,) = encode_block(HEADER, events)
    message = decode(value, lazy=True)
    assert message.has_stand_ins and json.loads(value)["stand_ins"] == [1]
    assert message.columns.all_events() == events


def lazy(value: bytes):
    return decode(value, lazy=True)


def rewritten(value: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and old in value
    return value.replace(old, new, 1)


def test_a_candidate_event_that_is_malformed_is_a_malformed_message():
    bad = {**event(0), "tx_index": "0"}
    (value,) = encode_block(HEADER, [bad, transaction_event(1)])
    message = lazy(value)
    with pytest.raises(MalformedMessage, match="tx_index"):
        message.columns.events_of({bad["address"]})
    with pytest.raises(MalformedMessage):
        decode(value)


def test_columns_that_do_not_match_the_events_are_a_malformed_message():
    (value,) = encode_block(HEADER, [event(0), event(1)])
    document = json.loads(value)
    positions = json.dumps(document["positions"], separators=(",", ":")).encode()
    broken = rewritten(value, positions, positions.replace(b"[1]", b"[7]"))
    with pytest.raises(MalformedMessage, match="names event 7"):
        lazy(broken).columns.events_of({event(1)["address"]})
    offsets = json.dumps(document["offsets"], separators=(",", ":")).encode()
    shifted = rewritten(value, offsets, offsets.replace(b"[0,", b"[1,"))
    with pytest.raises(MalformedMessage, match="not JSON"):
        lazy(shifted).columns.events_of({event(0)["address"]})


def test_a_broken_preamble_or_header_is_read_whole_and_refused_there():
    (value,) = encode_block(HEADER, [event(0)])
    for broken in (value[:V2_PREAMBLE_BYTES - 3] + b"x" + value[V2_PREAMBLE_BYTES - 2 :], value[:-1],
                   value.replace(b'"chain_id":8453', b'"chain_id":"845"', 1)):  # fmt: skip
        with pytest.raises(MalformedMessage):
            decode(broken, lazy=True)
    with pytest.raises(MalformedMessage, match="base64"):
        decode(Base64Value("abc"), lazy=True)  # incorrect padding
    assert correlation_id_of(Base64Value("abc")) is None and correlation_id_of(Base64Value(None)) is None


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), limit=st.integers(3_000, 40_000), picks=st.integers(0, 6))
def test_chunks_of_version_2_give_the_events_of_version_1(seed, limit, picks):
    header, events = synthetic(seed, transactions=8)
    new, old = encode_block(header, events, limit=limit), encode_block(header, events, limit=limit, version=1)
    assert all(len(value) <= limit for value in new)
    assert [e for v in new for e in decode(v).events] == [e for v in old for e in decode(v).events] == events
    rng = random.Random(seed)
    wanted = {a for e in rng.sample(events, min(picks, len(events))) for a in of(e)}
    got = [e for v in new for e in decode(as_base64(v), lazy=True).columns.events_of(wanted)]
    assert got == [e for e in events if of(e) & wanted]
