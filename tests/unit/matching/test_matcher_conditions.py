"""The matcher with real compiled conditions and real args decoders (CONTRACT sections 2 and 3)."""

from __future__ import annotations

from blockhook.matching.conditions import cached_condition
from blockhook.matching.log_args import decoder_for
from blockhook.matching.matcher import MonitorView, Watcher, match_events
from blockhook.matching.signatures import topic0
from tests.support.builders import address_topic, log, monitor_view, native_transfer

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"
WATCHED = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
OTHER = "0x" + "33" * 20


def word(value: int) -> str:
    return "0x" + f"{value:064x}"


def transfer_log(log_index: int, value: int) -> dict:
    return log(TOKEN, [topic0(TRANSFER), address_topic(OTHER), address_topic(WATCHED)], data=word(value),
               log_index=log_index)


def native(tx_index: int, value: int) -> dict:
    return native_transfer(OTHER, WATCHED, value=str(value), tx_index=tx_index)


def monitor(condition: str | None, kinds=("native_transfer",), signatures=()) -> MonitorView:
    return monitor_view(
        "m",
        kinds,
        topics=frozenset(topic0(s) for s in signatures),
        condition=cached_condition(condition) if condition else None,
        decoders={decoder_for(s).topic0: decoder_for(s) for s in signatures},
    )


def run(view: MonitorView, events: list[dict]) -> list[str]:
    matches = match_events(events, {"m": view}, {WATCHED: [Watcher("m")], TOKEN: [Watcher("m")]})
    return [match.event["id"] for match in matches]


def test_a_condition_beyond_64_bits_compares_exactly():
    view = monitor("event.value >= 1000000000000000000000")  # 10^21
    events = [native(0, 10**21 - 1), native(1, 10**21), native(2, 2**255)]
    assert run(view, events) == [events[1]["id"], events[2]["id"]]


def test_logs_carry_decoded_args_and_conditions_can_read_them():
    view = monitor("event.args.value > 100", kinds=("log",), signatures=(TRANSFER,))
    small, large = transfer_log(0, 100), transfer_log(1, 101)
    matches = match_events([small, large], {"m": view}, {TOKEN: [Watcher("m")]})
    assert [match.event["id"] for match in matches] == [large["id"]]
    assert matches[0].delivered_event()["args"] == {"from": OTHER, "to": WATCHED, "value": "101"}


def test_a_condition_that_fails_to_evaluate_does_not_match():
    view = monitor("event.token_id == 1")  # a field native transfers lack: False, not an error
    assert run(view, [native(0, 5)]) == []


def test_no_condition_matches_all_that_the_filters_let_through():
    assert len(run(monitor(None), [native(0, 0), native(1, 1)])) == 2
