"""The `blocks` topic codec: round trips, chunking of large blocks, and malformed records."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.delivery.payload import build_payloads
from blockhook.matching.matcher import MonitorView, Watcher, match_events, parties
from blockhook.streaming.codec import (
    MAX_MESSAGE_BYTES,
    MESSAGE_VERSION,
    BlockHeader,
    BlockMessage,
    MalformedMessage,
    RevertMessage,
    decode,
    encode_block,
    encode_revert,
    message_key,
)

KINDS = ("transaction", "native_transfer", "erc20_transfer", "erc721_transfer", "erc1155_transfer", "log")
HEADER = BlockHeader(
    chain_id=8453, number=21_000_000, hash="0x" + "ab" * 32, parent_hash="0x" + "cd" * 32, timestamp=1_730_000_000
)


def event(n: int, data_bytes: int = 0) -> dict:
    """A `log` event as the worker makes them; `data_bytes` pads it to a chosen size."""
    return {
        "id": f"8453:{HEADER.hash}:{n // 10}:{n}:log",
        "kind": "log",
        "chain_id": HEADER.chain_id,
        "block_number": HEADER.number,
        "block_hash": HEADER.hash,
        "block_timestamp": HEADER.timestamp,
        "tx_hash": "0x" + f"{n:064x}",
        "tx_index": n // 10,
        "log_index": n,
        "address": "0x" + f"{n:040x}",
        "topics": ["0x" + "11" * 32],
        "data": "0x" + "ee" * data_bytes,
    }


def transaction_event(n: int) -> dict:
    return {
        "id": f"8453:{HEADER.hash}:{n}:tx:transaction",
        "kind": "transaction",
        "chain_id": HEADER.chain_id,
        "block_number": HEADER.number,
        "block_hash": HEADER.hash,
        "block_timestamp": HEADER.timestamp,
        "tx_hash": "0x" + f"{n:064x}",
        "tx_index": n,
        "log_index": None,
        "from": "0x" + "aa" * 20,
        "to": None,
        "value": "1000000000000000000",
        "selector": None,
        "status": 1,
        "gas_used": 53000,
        "contract_address": "0x" + "cc" * 20,
    }


# --- round trips -----------------------------------------------------------------------------------


def token_events(tx_index: int) -> list[dict]:
    common = {k: v for k, v in event(0).items() if k not in ("id", "kind", "address", "topics", "data")}
    prefix = f"8453:{HEADER.hash}:{tx_index}"
    parties = {"from": "0x" + "aa" * 20, "to": "0x" + "bb" * 20}
    return [
        {**common, "id": f"{prefix}:tx:native_transfer", "kind": "native_transfer", "log_index": None,
         "tx_index": tx_index, **parties, "value": "7"},
        {**common, "id": f"{prefix}:1:erc20_transfer", "kind": "erc20_transfer", "log_index": 1,
         "tx_index": tx_index, "token": "0x" + "01" * 20, **parties, "value": "10"},
        {**common, "id": f"{prefix}:2:erc721_transfer", "kind": "erc721_transfer", "log_index": 2,
         "tx_index": tx_index, "token": "0x" + "02" * 20, **parties, "token_id": "99"},
        {**common, "id": f"{prefix}:3:erc1155_transfer:0", "kind": "erc1155_transfer", "log_index": 3,
         "tx_index": tx_index, "token": "0x" + "03" * 20, "operator": "0x" + "cc" * 20, **parties,
         "token_id": "5", "value": "2"},
    ]


def test_block_round_trip():
    events = [transaction_event(0), *token_events(0), event(1), event(2)]
    (value,) = encode_block(HEADER, events)
    message = decode(value)
    assert message == BlockMessage(HEADER, chunk=0, chunks=1, events=events)


def test_block_round_trip_from_str_and_bytes():
    (value,) = encode_block(HEADER, [event(0)])
    assert decode(value.decode()) == decode(value)


def test_empty_block_is_one_message_with_no_events():
    (value,) = encode_block(HEADER, [])
    assert decode(value) == BlockMessage(HEADER, 0, 1, [])


def test_block_document_shape_of_version_1():
    (value,) = encode_block(HEADER, [event(0)], version=1)
    document = json.loads(value)
    assert document == {
        "v": 1, "type": "block", "chain_id": 8453, "number": 21_000_000, "hash": HEADER.hash,
        "parent_hash": HEADER.parent_hash, "timestamp": 1_730_000_000, "chunk": 0, "chunks": 1,
        "events": [event(0)],
    }


@pytest.mark.parametrize("version", [1, 2])
def test_revert_round_trip(version):
    value = encode_revert(10, 123, "0x" + "ef" * 32, version=version)
    assert json.loads(value) == {"v": version, "type": "revert", "chain_id": 10, "number": 123, "hash": "0x" + "ef" * 32}
    assert decode(value) == decode(value, lazy=True) == RevertMessage(10, 123, "0x" + "ef" * 32)


def test_unicode_in_events_survives():
    special = {**event(0), "args": {"name": "naïve ✓ \u2028"}}
    (value,) = encode_block(HEADER, [special])
    assert decode(value).events == [special]


def test_message_key_is_the_chain():
    assert message_key(8453) == b"8453"
    assert message_key(1) != message_key(10)


def test_a_normal_block_is_one_message_under_the_broker_limit():
    events = [event(n, data_bytes=100) for n in range(1000)]
    (value,) = encode_block(HEADER, events)
    assert len(value) <= MAX_MESSAGE_BYTES


# --- chunking ------------------------------------------------------------------------------------------


def check_chunks(values: list[bytes], events: list[dict], limit: int) -> None:
    messages = [decode(value) for value in values]
    assert [m.chunk for m in messages] == list(range(len(values)))
    assert all(m.chunks == len(values) for m in messages)
    assert all(m.header == HEADER for m in messages)
    assert [e for m in messages for e in m.events] == events  # nothing lost, nothing repeated, order kept
    assert all(len(value) <= limit for value in values)
    assert all(m.events for m in messages) or events == []


def test_large_block_is_split_into_numbered_chunks():
    events = [event(n, data_bytes=200) for n in range(60)]
    limit = 4000
    values = encode_block(HEADER, events, limit=limit)
    assert len(values) > 3
    check_chunks(values, events, limit)


def test_default_limit_splits_a_block_bigger_than_a_megabyte():
    events = [event(n, data_bytes=10_000) for n in range(150)]  # about 3 MB
    values = encode_block(HEADER, events)
    assert len(values) >= 3
    check_chunks(values, events, MAX_MESSAGE_BYTES)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(0, 600), max_size=40),
    limit=st.integers(2000, 6000),
    version=st.sampled_from([1, 2]),
)
def test_chunking_keeps_every_event_in_order_under_the_limit(sizes, limit, version):
    # Version 2 spends a few hundred bytes of a message on its columns and header.
    limit += 600 if version == 2 else 0
    events = [event(n, data_bytes=size) for n, size in enumerate(sizes)]
    check_chunks(encode_block(HEADER, events, limit=limit, version=version), events, limit)


# --- malformed records ------------------------------------------------------------------------------


def block_document(**changes) -> dict:
    # Version 1: its events are checked as they are; version 2's malformed shapes are in test_codec_v2.py.
    document = json.loads(encode_block(HEADER, [event(0), transaction_event(1)], version=1)[0])
    document.update(changes)
    return document


def without(document: dict, name: str) -> dict:
    return {k: v for k, v in document.items() if k != name}


def with_event(**changes) -> dict:
    return block_document(events=[{**event(0), **changes}])


def without_event_field(name: str) -> dict:
    return block_document(events=[without(event(0), name)])


MALFORMED = {
    "empty": b"",
    "not json": b"block 21000000",
    "truncated json": encode_block(HEADER, [event(0)])[0][:-5],
    "invalid utf-8": b'{"v": 1, "type": "\xff\xfe"}',
    "json array": b"[1, 2]",
    "json string": b'"block"',
    "json null": b"null",
    "json number": b"1",
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "no version": without(block_document(), "v"),
    "version 3": block_document(v=3),
    "version as string": block_document(v="1"),
    "version true": block_document(v=True),
    "version 1.0": block_document(v=1.0),
    "no type": without(block_document(), "type"),
    "unknown type": block_document(type="blocks"),
    "type not a string": block_document(type=["block"]),
    "no chain_id": without(block_document(), "chain_id"),
    "no number": without(block_document(), "number"),
    "no hash": without(block_document(), "hash"),
    "no parent_hash": without(block_document(), "parent_hash"),
    "no timestamp": without(block_document(), "timestamp"),
    "no events": without(block_document(), "events"),
    "chain_id as string": block_document(chain_id="8453"),
    "number as float": block_document(number=21e6),
    "number as bool": block_document(number=True),
    "hash not hex": block_document(hash="ab" * 32),
    "hash as number": block_document(hash=12),
    "timestamp null": block_document(timestamp=None),
    "events an object": block_document(events={"0": event(0)}),
    "events a string": block_document(events="[]"),
    "events null": block_document(events=None),
    "event not an object": block_document(events=[event(0), "event"]),
    "chunk as string": block_document(chunk="0"),
    "chunks zero": block_document(chunk=0, chunks=0),
    "chunk past chunks": block_document(chunk=2, chunks=2),
    "chunk negative": block_document(chunk=-1, chunks=2),
    "event without id": without_event_field("id"),
    "event without kind": without_event_field("kind"),
    "event without chain_id": without_event_field("chain_id"),
    "event kind a list": with_event(kind=["log"]),
    "event tx_index a string": with_event(tx_index="0"),
    "event log_index a float": with_event(log_index=1.5),
    "event address an object": with_event(address={"a": 1}),
    "event from a list": with_event(**{"from": ["0x" + "aa" * 20]}),
    "event topics a string": with_event(topics="0x" + "11" * 32),
    "event topics with a number": with_event(topics=[1]),
    "revert without hash": {"v": 1, "type": "revert", "chain_id": 1, "number": 2},
    "revert number as string": {"v": 1, "type": "revert", "chain_id": 1, "number": "2", "hash": "0x00"},
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_record_raises_malformed_message(value):
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    with pytest.raises(MalformedMessage):
        decode(raw)


def test_null_record_value_is_malformed():
    # A Kafka record may have no value at all.
    with pytest.raises(MalformedMessage):
        decode(None)


def test_malformed_message_is_a_value_error_with_a_reason():
    with pytest.raises(ValueError, match="version"):
        decode(json.dumps(block_document(v=3)))


def test_optional_event_fields_may_be_null_and_chunk_fields_may_be_absent():
    document = without(without(block_document(), "chunk"), "chunks")
    message = decode(json.dumps(document))
    assert (message.chunk, message.chunks) == (0, 1)
    assert message.events[1]["to"] is None and message.events[1]["log_index"] is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def decodes_or_refuses(value) -> None:
    try:
        message = decode(value)
    except MalformedMessage:
        return
    assert isinstance(message, BlockMessage | RevertMessage)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_malformed_message(value):
    decodes_or_refuses(value)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_arbitrary_text_decodes_or_raises_malformed_message(value):
    decodes_or_refuses(value)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    document=st.sampled_from([block_document(), json.loads(encode_revert(1, 2, "0x" + "ab" * 32))]),
    name=st.sampled_from(["v", "type", "chain_id", "number", "hash", "parent_hash", "timestamp", "chunk",
                          "chunks", "events", "extra"]),
    replacement=json_values,
)
def test_valid_message_with_one_field_replaced_decodes_or_raises_malformed_message(document, name, replacement):
    decodes_or_refuses(json.dumps({**document, name: replacement}).encode())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(["id", "kind", "chain_id", "tx_index", "log_index", "from", "to", "address",
                          "token", "operator", "contract_address", "topics"]),
    replacement=json_values,
)
def test_event_with_one_field_replaced_is_refused_or_safe_to_match_and_deliver(name, replacement):
    # Whatever decode lets through, the matcher and the delivery payload must be able to handle:
    # a crash there would fail the whole batch, and every retry of it.
    try:
        message = decode(json.dumps(with_event(**{name: replacement})).encode())
    except MalformedMessage:
        return
    view = MonitorView("m1", "t1", frozenset({HEADER.chain_id}), frozenset(KINDS), watches_all_addresses=True)
    watched = {party: [Watcher("m2")] for e in message.events for party in parties(e)}
    monitors = {"m1": view, "m2": replace(view, monitor_id="m2", watches_all_addresses=False)}
    matches = match_events(message.events, monitors, watched, [view])
    build_payloads("m1", HEADER.chain_id, HEADER.as_payload_block(), [m.delivered_event() for m in matches], False)


def test_encoded_messages_carry_this_version():
    assert json.loads(encode_revert(1, 1, "0x00"))["v"] == MESSAGE_VERSION
