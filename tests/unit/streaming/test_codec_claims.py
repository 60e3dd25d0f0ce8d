"""Events too large for a message cross as claim checks: a stand-in on the topic, the whole event in a
store, given back by `resolve_event` (and by the matcher only for an event a monitor may match)."""

from __future__ import annotations

import hashlib
import json

import pytest

from blockhook.matching.conditions import compile_condition
from blockhook.matching.matcher import MonitorView, match_events
from blockhook.matching.service import MatchService
from blockhook.streaming.codec import (
    CLAIM_FIELD,
    MAX_INLINE_EVENT_BYTES,
    MAX_MESSAGE_BYTES,
    BackfillTarget,
    ClaimMismatch,
    EventTooLarge,
    MalformedMessage,
    decode,
    encode_block,
    is_stand_in,
    resolve_event,
    stand_in,
)
from tests.unit.streaming.test_codec import HEADER, event, transaction_event

MEGABYTES_2 = 2 * 1024 * 1024


class DictStore:
    """A claim store in a dict, keyed like the S3 one (content-addressed)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[str] = []

    def put(self, data: bytes) -> str:
        key = "events/8453/" + hashlib.sha256(data).hexdigest()
        self.objects[key] = data
        return key

    def get(self, key: str) -> bytes:
        self.reads.append(key)
        return self.objects[key]


def big_log(n: int, data_bytes: int = MEGABYTES_2) -> dict:
    whole = event(n, data_bytes=0)
    whole["data"] = "0x" + bytes((i * 31 + n) % 256 for i in range(data_bytes)).hex()
    return whole


def test_small_events_cross_inline_and_need_no_store():
    events = [event(n, data_bytes=1000) for n in range(5)] + [transaction_event(9)]
    (value,) = encode_block(HEADER, events)  # no claim store given: none is needed
    message = decode(value)
    assert message.events == events
    assert not message.has_stand_ins


def test_a_2_mb_event_crosses_as_a_stand_in_and_resolves_to_exactly_itself():
    store = DictStore()
    whole = big_log(3)
    events = [event(1), whole, transaction_event(7)]
    values = encode_block(HEADER, events, claims=store.put)
    assert all(len(value) <= MAX_MESSAGE_BYTES for value in values)
    (message,) = [decode(value) for value in values]
    assert message.has_stand_ins
    first, standing, last = message.events
    assert first == events[0] and last == events[2]
    assert is_stand_in(standing) and not is_stand_in(first)
    # Every field the matcher filters on is there; the data is not.
    for name in ("id", "kind", "chain_id", "block_number", "block_hash", "block_timestamp", "tx_hash",
                 "tx_index", "log_index", "address", "topics"):  # fmt: skip
        assert standing[name] == whole[name], name
    assert "data" not in standing
    assert standing[CLAIM_FIELD]["bytes"] == len(json.dumps(whole, separators=(",", ":")))
    assert len(json.dumps(standing)) < 2000
    assert resolve_event(standing, store.get) == whole
    assert resolve_event(first, store.get) == first  # an event that is not a stand-in is itself


def test_the_claim_check_threshold_is_max_inline_event_bytes():
    store = DictStore()
    below = event(1, data_bytes=(MAX_INLINE_EVENT_BYTES - 1000) // 2)
    above = event(2, data_bytes=MAX_INLINE_EVENT_BYTES // 2 + 1)
    message = decode(encode_block(HEADER, [below, above], claims=store.put)[0])
    assert message.events[0] == below
    assert is_stand_in(message.events[1])
    assert len(store.objects) == 1


def test_no_message_passes_its_limit_even_for_a_lone_event_close_to_it():
    store = DictStore()
    limit = 5000
    events = [event(n, data_bytes=size) for n, size in enumerate([2200, 2300, 100, 2400])]
    values = encode_block(HEADER, events, limit=limit, claims=store.put, backfill=BackfillTarget("m" * 40, "j" * 40))
    assert all(len(value) <= limit for value in values)
    decoded = [e for value in values for e in decode(value).events]
    assert [resolve_event(e, store.get) for e in decoded] == events


@pytest.mark.parametrize("claim", ["nowhere", {"bytes": 5}, {"key": 7, "bytes": 5}, {"key": "k", "bytes": "5"}, None])
def test_a_stand_in_whose_claim_is_not_key_and_bytes_is_a_malformed_message(claim):
    (value,) = encode_block(HEADER, [{**event(1), CLAIM_FIELD: claim}])
    with pytest.raises(MalformedMessage, match="claim is not"):
        decode(value)


def test_an_oversized_event_without_a_store_is_refused_not_sent_over_the_limit():
    with pytest.raises(EventTooLarge, match="no claim store"):
        encode_block(HEADER, [big_log(1, data_bytes=600_000)])


def test_an_event_whose_stand_in_is_still_too_large_is_refused():
    crowded = event(1)
    crowded.update({f"field_{n}": "x" * 900 for n in range(1200)})  # 1 MB of fields the stand-in keeps
    with pytest.raises(EventTooLarge, match="stand-in"):
        encode_block(HEADER, [crowded], claims=DictStore().put)


def test_a_claim_that_holds_another_event_is_refused():
    store = DictStore()
    standing = stand_in(big_log(1), store.put(json.dumps(big_log(2)).encode()), 1)
    with pytest.raises(ClaimMismatch, match="another event"):
        resolve_event(standing, store.get)
    with pytest.raises(ClaimMismatch, match="not JSON"):
        resolve_event(stand_in(big_log(1), store.put(b"\xff not json"), 1), store.get)
    with pytest.raises(ClaimMismatch, match="claim is not"):
        resolve_event({**big_log(1), CLAIM_FIELD: "nowhere"}, store.get)


def test_a_stand_in_matches_the_same_monitors_as_its_whole_event():
    store = DictStore()
    whole = big_log(4)
    (value,) = encode_block(HEADER, [whole], claims=store.put)
    (standing,) = decode(value).events
    monitors = {
        "logs": MonitorView("logs", "t", frozenset({8453}), frozenset({"log"}), watches_all_addresses=True),
        "emitter": MonitorView("emitter", "t", frozenset({8453}), frozenset({"log"}),
                               contracts=frozenset({whole["address"]}), watches_all_addresses=True),
        "topic": MonitorView("topic", "t", frozenset({8453}), frozenset({"log"}),
                             topics=frozenset({whole["topics"][0]}), watches_all_addresses=True),
        "other_topic": MonitorView("other_topic", "t", frozenset({8453}), frozenset({"log"}),
                                   topics=frozenset({"0x" + "22" * 32}), watches_all_addresses=True),
        "other_chain": MonitorView("other_chain", "t", frozenset({1}), frozenset({"log"}), watches_all_addresses=True),
        "transfers": MonitorView("transfers", "t", frozenset({8453}), frozenset({"erc20_transfer"}),
                                 watches_all_addresses=True),
    }  # fmt: skip
    everyone = list(monitors.values())
    by_stand_in = {m.monitor_id for m in match_events([standing], monitors, {}, everyone)}
    by_whole = {m.monitor_id for m in match_events([whole], monitors, {}, everyone)}
    assert by_stand_in == by_whole == {"logs", "emitter", "topic"}


def test_the_matcher_reads_only_the_stand_ins_a_monitor_accepts_and_then_sees_the_whole_event():
    store = DictStore()
    watched, unwatched = big_log(1), big_log(2)
    unwatched["topics"] = ["0x" + "22" * 32]
    (value,) = encode_block(HEADER, [watched, unwatched, event(3)], claims=store.put)
    message = decode(value)
    # A condition on the data: true only when it sees the whole event.
    condition = compile_condition(f"event.data.size() == {len(watched['data'])}")
    monitor = MonitorView("m", "t", frozenset({8453}), frozenset({"log"}), topics=frozenset({watched["topics"][0]}),
                          watches_all_addresses=True, condition=condition)  # fmt: skip
    service = MatchService(index=None, deliveries=None, fetch_claim=store.get)
    resolved = service._resolve_stand_ins(message.events, [monitor])
    assert resolved == [watched, message.events[1], event(3)]
    assert len(store.reads) == 1  # the stand-in no monitor accepts was not read
    assert [m.event for m in match_events(resolved, {"m": monitor}, {}, [monitor])] == [watched]
