"""The correlation id of a block's work, `<chain_id>:<hash>`, and reading it from a message on the topic
without decoding the message's events."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.streaming.codec import (
    BackfillTarget,
    BlockHeader,
    correlation_id,
    correlation_id_of,
    decode,
    encode_block,
    encode_revert,
)

HEADER = BlockHeader(8453, 21_000_000, "0x" + "ab" * 32, "0x" + "cd" * 32, 1_730_000_000)
BLOCK_ID = "8453:0x" + "ab" * 32


def log_event(n: int, data_bytes: int = 0) -> dict:
    return {
        "id": f"8453:{HEADER.hash}:0:{n}:log", "kind": "log", "chain_id": 8453, "tx_index": 0, "log_index": n,
        "address": "0x" + f"{n:040x}", "topics": ["0x" + "11" * 32], "data": "0x" + "ee" * data_bytes,
    }  # fmt: skip


def test_a_blocks_correlation_id_is_its_chain_and_hash():
    assert correlation_id(8453, HEADER.hash) == BLOCK_ID
    assert HEADER.correlation_id == BLOCK_ID


def test_every_chunk_of_a_block_and_its_revert_carry_the_blocks_id():
    events = [log_event(n, data_bytes=2_000) for n in range(40)]
    chunks = encode_block(HEADER, events, limit=20_000)
    assert len(chunks) > 1
    assert [correlation_id_of(chunk) for chunk in chunks] == [BLOCK_ID] * len(chunks)
    assert correlation_id_of(encode_revert(8453, HEADER.number, HEADER.hash)) == BLOCK_ID


def test_a_backfilled_block_carries_the_blocks_id():
    (value,) = encode_block(HEADER, [log_event(0)], backfill=BackfillTarget("mon_1", "job_1"))
    assert correlation_id_of(value) == BLOCK_ID
    assert correlation_id_of(value.decode()) == BLOCK_ID


def test_a_document_written_in_another_order_is_read_whole():
    document = {"events": [], "v": 1, "type": "block", "chain_id": 8453, "hash": HEADER.hash}
    assert correlation_id_of(json.dumps(document, indent=2).encode()) == BLOCK_ID


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not json",
        b"[1, 2]",
        b'{"chain_id": "8453", "hash": "0xab"}',
        b'{"chain_id": true, "hash": "0xab"}',
        b'{"chain_id": 8453, "hash": "ab"}',
        b'{"chain_id": 8453}',
        b'{"chain_id": 8453, "hash": "0xab", "events":[',
    ],
)
def test_a_value_that_names_no_block_has_no_correlation_id(value):
    assert correlation_id_of(value) is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_an_id_or_none_and_never_raise(value):
    found = correlation_id_of(value)
    assert found is None or isinstance(found, str)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_an_id_or_none_and_never_raises(value):
    found = correlation_id_of(value)
    assert found is None or isinstance(found, str)


def test_text_that_is_no_unicode_has_no_correlation_id():
    assert correlation_id_of('{"chain_id": 1, "hash": "0x\ud800"}') is None
    assert correlation_id_of("\ud800") is None


@settings(max_examples=100, deadline=None, derandomize=True)
@given(chain_id=st.integers(min_value=1, max_value=2**63), digits=st.binary(min_size=32, max_size=32))
def test_the_id_read_from_a_message_is_the_id_of_the_block_it_decodes_to(chain_id, digits):
    header = BlockHeader(chain_id, 1, "0x" + digits.hex(), "0x" + "00" * 32, 0)
    (value,) = encode_block(header, [log_event(0)])
    assert correlation_id_of(value) == decode(value).header.correlation_id
