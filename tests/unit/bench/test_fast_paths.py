"""The faster decode and match paths the matcher benchmark led to answer exactly what the plain ones did."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import matcher_bench  # noqa: E402

from blockhook import jsonparse  # noqa: E402
from blockhook.matching.matcher import match_events  # noqa: E402
from blockhook.streaming import codec  # noqa: E402

JSON_EDGES = [
    b'{"a":1,"a":2}', "\ufeff{}", b"\xef\xbb\xbf{}", b'"\\ud800"', b'"\\ude00\\ud83d"', b'"a\x01b"', b'"a\x7fb"',
    b"[" * 900 + b"]" * 900, b"[" * 5000 + b"]" * 5000, b"1e-400", b"1e400", b"-1e400", b"NaN", b"Infinity",
    b"2.2250738585072011e-308", b"9007199254740993.0", b"123456789012345678901234567890", b"-9300000000000000000",
    b"18446744073709551616", b"-0", b' {"a":1}\n', b'{"a":1}x', b'"\\u0000"', b"[1,]", b"\t[1]\r", b'"\xc3"',
    b'"\xed\xa0\x80"', b"", b"{}", '{"é": "ü"}', '"\ud800"', "[1, 2.5, null, true]", "\x00",
    '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-32"),
]


def outcome(function, value):
    try:
        return "ok", repr(function(value))
    except (ValueError, RecursionError, TypeError) as error:
        return "error", type(error).__name__ if isinstance(error, RecursionError) else "ValueError"


@pytest.mark.parametrize("value", JSON_EDGES, ids=lambda v: repr(v)[:30])
def test_the_fast_parse_parses_what_json_loads_parses_and_refuses_what_it_refuses(value):
    assert outcome(jsonparse.loads, value) == outcome(json.loads, value)


def test_the_fast_parse_reads_random_json_like_bytes_as_json_loads_does():
    rng = random.Random(4)
    alphabet = b'{}[]",:0123456789-+.eE truefalsnul\\u00aAbcdef\x00\x7f\xc3\xa9\xed\xa0\x80 \n'
    for _ in range(20_000):
        value = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 24)))
        assert outcome(jsonparse.loads, value) == outcome(json.loads, value), value


def good_event(**changes):
    event = {"id": "1:0xab:0:tx:transaction", "kind": "transaction", "chain_id": 1, "tx_index": 0, "log_index": None,
             "from": "0x" + "11" * 20, "to": None, "topics": ["0x" + "22" * 32], "extra": [{"any": 1.5}]}
    event.update(changes)
    return {k: v for k, v in event.items() if v is not KeyError}


BAD = [("id", 5), ("id", KeyError), ("kind", None), ("chain_id", True), ("chain_id", 1.0), ("chain_id", "1"),
       ("chain_id", KeyError), ("tx_index", "0"), ("tx_index", True), ("log_index", False), ("log_index", "3"), ("from", 7),
       ("to", ["x"]), ("contract_address", {}), ("address", 1), ("token", True), ("operator", 0.5),
       ("topics", "0x"), ("topics", [1]), ("topics", [None]), ("topics", {"a": "b"})]
GOOD = [("chain_id", 2**80), ("tx_index", None), ("log_index", 3), ("log_index", KeyError), ("topics", None), ("topics", []),
        ("to", "0x" + "33" * 20), ("from", KeyError), ("id", "")]


@pytest.mark.parametrize(("name", "value"), BAD + GOOD, ids=lambda v: repr(v)[:20])
def test_the_checks_in_one_go_refuse_what_the_check_of_each_event_refuses(name, value):
    events = [good_event(), good_event(**{name: value}), good_event()]

    def one_by_one():
        for event in events:
            codec._check_event(event)

    assert outcome(lambda _: codec._check_events(events), None) == outcome(lambda _: one_by_one(), None)
    if (name, value) in BAD:
        with pytest.raises(codec.MalformedMessage) as together:
            codec._check_events(events)
        with pytest.raises(codec.MalformedMessage) as alone:
            codec._check_event(events[1])
        assert str(together.value) == str(alone.value)


def test_a_non_object_event_is_refused_as_before():
    with pytest.raises(codec.MalformedMessage, match="not an object"):
        codec._check_events([good_event(), ["not", "an", "event"]])


def test_only_events_with_a_candidate_can_match():
    index = matcher_bench.build_index(monitors=10, addresses=1000)
    blocks = matcher_bench.planted_blocks(random.Random(5), 3, 10, 100, share=0.02)
    for _, events in blocks:
        candidates, chosen = index.candidates_and_events(events)
        assert candidates == index.candidates(events)
        watchers = matcher_bench.watchers_in_memory(candidates)
        everything = match_events(events, index.monitors, watchers, [])
        assert everything and match_events(chosen, index.monitors, watchers, []) == everything


def test_the_index_loaded_through_refresh_from_the_stand_in_is_the_one_built_directly():
    loaded = matcher_bench.load_index(matcher_bench.fake_aws(monitors=20, addresses=400))
    built = matcher_bench.build_index(monitors=20, addresses=400)
    assert loaded.prefilter == built.prefilter
    assert sorted(loaded.monitors) == sorted(built.monitors)
    for monitor_id, view in built.monitors.items():
        got = loaded.monitors[monitor_id]
        assert (got.tenant_id, got.chain_ids, got.kinds, got.confirmations, got.active, got.watches_all_addresses) == (
            view.tenant_id, view.chain_ids, view.kinds, view.confirmations, view.active, view.watches_all_addresses)
        assert (got.condition is None) == (view.condition is None)
