"""internal_transfer and withdrawal events from hand-built blocks; both trace formats agree on random call trees."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.chain.events import MalformedBlockError, block_events
from blockhook.chain.reader import RawBlock
from blockhook.chain.traces import CALL_TRACER, PARITY

CHAIN = 1
BLOCK_HASH = "0x" + "ab" * 32
USER = "0x" + "a1" * 20
WALLET = "0x" + "b0" * 20
ROUTER = "0x" + "c4" * 20
PAYEE = "0x" + "d5" * 20
LIBRARY = "0x" + "e6" * 20
ADDRESSES = [USER, WALLET, ROUTER, PAYEE, LIBRARY]


def tx_hash(index: int) -> str:
    return "0x" + f"{index + 1:064x}"


@dataclass
class Frame:
    """One frame of a call tree, rendered in either trace format."""

    type: str  # CALL, DELEGATECALL, STATICCALL, CALLCODE, CREATE, CREATE2, SELFDESTRUCT
    sender: str
    to: str
    value: int = 0
    reverted: bool = False
    calls: list[Frame] = field(default_factory=list)

    def call_tracer(self) -> dict:
        frame = {"type": self.type, "from": self.sender, "to": self.to, "gas": "0x0", "gasUsed": "0x0", "input": "0x"}
        if self.type != "STATICCALL":
            frame["value"] = hex(self.value)
        if self.reverted:
            frame["error"] = "execution reverted"
        if self.calls:
            frame["calls"] = [child.call_tracer() for child in self.calls]
        return frame

    def parity(self, position: int, path: tuple[int, ...] = ()) -> list[dict]:
        kind = self.type.lower()
        if kind in ("create", "create2"):
            trace = {"type": "create", "action": {"from": self.sender, "value": hex(self.value), "init": "0x",
                     "creationMethod": kind}, "result": None if self.reverted else {"address": self.to}}  # fmt: skip
        elif kind == "selfdestruct":
            trace = {"type": "suicide", "action": {"address": self.sender, "refundAddress": self.to,
                     "balance": hex(self.value)}, "result": None}  # fmt: skip
        else:
            action = {"callType": kind, "from": self.sender, "to": self.to, "value": hex(self.value), "input": "0x"}
            trace = {"type": "call", "action": action, "result": None if self.reverted else {"output": "0x"}}
        if self.reverted:
            trace["error"] = "Reverted"
        trace.update(traceAddress=list(path), subtraces=len(self.calls), transactionPosition=position,
                     transactionHash=tx_hash(position), blockHash=BLOCK_HASH)  # fmt: skip
        traces = [trace]
        for index, child in enumerate(self.calls):
            traces += child.parity(position, (*path, index))
        return traces


def block_with(frames: list[Frame], trace_format: str | None, statuses: list[int] | None = None,
               withdrawals: list[dict] | None = None) -> RawBlock:  # fmt: skip
    statuses = statuses or [0 if frame.reverted else 1 for frame in frames]
    transactions = [
        {"hash": tx_hash(i), "transactionIndex": hex(i), "from": f.sender, "to": f.to, "value": hex(f.value),
         "input": "0x", "type": "0x2"}
        for i, f in enumerate(frames)
    ]  # fmt: skip
    receipts = [
        {"transactionHash": tx_hash(i), "status": hex(status), "gasUsed": "0x5208", "contractAddress": None, "logs": []}
        for i, status in enumerate(statuses)
    ]  # fmt: skip
    traces = None
    if trace_format == CALL_TRACER:
        traces = [{"txHash": tx_hash(i), "result": f.call_tracer()} for i, f in enumerate(frames)]
    elif trace_format == PARITY:
        traces = [trace for i, f in enumerate(frames) for trace in f.parity(i)]
        traces.append({"type": "reward", "action": {"author": USER, "value": "0x1", "rewardType": "block"},
                       "traceAddress": [], "transactionPosition": None})  # fmt: skip
    return RawBlock(42, BLOCK_HASH, "0x" + "cd" * 32, 1_700_000_000, transactions, receipts,
                    withdrawals=withdrawals, traces=traces, trace_format=trace_format)  # fmt: skip


def internal(events: list[dict]) -> list[tuple]:
    return [
        (e["tx_index"], e["trace_address"], e["call_type"], e["from"], e["to"], e["value"])
        for e in events
        if e["kind"] == "internal_transfer"
    ]


# A Safe paying out through a router: nested calls, a reverted branch, a delegatecall, a create and a selfdestruct.
PAYOUT = Frame("CALL", USER, WALLET, 0, calls=[
    Frame("CALL", WALLET, ROUTER, 5, calls=[
        Frame("CALL", ROUTER, PAYEE, 3),
        Frame("CALL", ROUTER, USER, 1, reverted=True, calls=[Frame("CALL", USER, PAYEE, 9)]),
    ]),
    Frame("DELEGATECALL", WALLET, LIBRARY, 77, calls=[Frame("CALL", WALLET, PAYEE, 2)]),
    Frame("STATICCALL", WALLET, ROUTER),
    Frame("CALLCODE", WALLET, LIBRARY, 4),
    Frame("CREATE2", WALLET, LIBRARY, 6, calls=[Frame("SELFDESTRUCT", LIBRARY, PAYEE, 6)]),
    Frame("CALL", WALLET, ROUTER, 0),
])  # fmt: skip
PAYOUT_TRANSFERS = [
    (0, "0", "call", WALLET, ROUTER, "5"),
    (0, "0.0", "call", ROUTER, PAYEE, "3"),
    (0, "1.0", "call", WALLET, PAYEE, "2"),
    (0, "4", "create2", WALLET, LIBRARY, "6"),
    (0, "4.0", "selfdestruct", LIBRARY, PAYEE, "6"),
]


@pytest.mark.parametrize("trace_format", [CALL_TRACER, PARITY])
def test_inner_frames_that_moved_value_and_only_those(trace_format):
    events = block_events(CHAIN, block_with([PAYOUT], trace_format))
    assert internal(events) == PAYOUT_TRANSFERS
    first = next(e for e in events if e["kind"] == "internal_transfer")
    assert first["id"] == f"{CHAIN}:{BLOCK_HASH}:0:tx:internal_transfer:0"
    assert first["log_index"] is None and first["tx_hash"] == tx_hash(0)


@pytest.mark.parametrize("trace_format", [CALL_TRACER, PARITY])
def test_a_failed_transaction_moves_nothing_inside_either(trace_format):
    failed = Frame("CALL", USER, WALLET, 10, reverted=True, calls=[Frame("CALL", WALLET, PAYEE, 10)])
    events = block_events(CHAIN, block_with([failed], trace_format))
    assert [e["kind"] for e in events] == ["transaction"]


def test_status_zero_wins_over_a_trace_that_does_not_say_reverted():
    events = block_events(CHAIN, block_with([PAYOUT], CALL_TRACER, statuses=[0]))
    assert internal(events) == []


def test_without_traces_there_are_no_internal_transfers():
    assert internal(block_events(CHAIN, block_with([PAYOUT], None))) == []


def test_events_of_a_transaction_come_in_chain_order():
    events = block_events(CHAIN, block_with([Frame("CALL", USER, WALLET, 1, calls=[Frame("CALL", WALLET, PAYEE, 1)])],
                                             CALL_TRACER))  # fmt: skip
    assert [e["kind"] for e in events] == ["transaction", "native_transfer", "internal_transfer"]


@pytest.mark.parametrize(
    "traces, message",
    [
        ([], "0 call traces for 1 transactions"),
        ([{"txHash": tx_hash(0), "error": "tracing timed out"}], "tracing timed out"),
        ([{"txHash": tx_hash(5), "result": {"type": "CALL"}}], "not " + tx_hash(0)),
        ([{"result": {"type": "CALL", "calls": [{"type": "CALL", "from": USER, "to": "0x12", "value": "0x1"}]}}],
         "not 20 bytes"),
        ([{"result": {"type": "CALL", "calls": [{"type": "CALL", "from": USER, "to": PAYEE, "value": "lots"}]}}],
         "not a hex quantity"),
        ({"not": "a list"}, "not a list"),
    ],
)  # fmt: skip
def test_a_call_trace_that_does_not_fit_the_block_is_refused(traces, message):
    block = block_with([Frame("CALL", USER, WALLET, 1)], None)
    block = RawBlock(**{**block.__dict__, "traces": traces, "trace_format": CALL_TRACER})
    with pytest.raises(MalformedBlockError, match="traces") as raised:
        block_events(CHAIN, block)
    assert message in str(raised.value)


def test_a_parity_trace_without_the_transactions_own_frame_is_refused():
    # Some nodes answer [] for a block they do not have: that must not read as "nothing moved".
    block = block_with([Frame("CALL", USER, WALLET, 1)], None)
    block = RawBlock(**{**block.__dict__, "traces": [], "trace_format": PARITY})
    with pytest.raises(MalformedBlockError, match="no trace of the transaction's own frame"):
        block_events(CHAIN, block)


def test_withdrawals_are_credited_in_wei_after_every_transaction():
    withdrawals = [
        {"index": "0x2a9b1f", "validatorIndex": "0x10", "address": "0x" + "F1" * 20, "amount": "0x11"},
        {"index": "0x2a9b20", "validatorIndex": "0x11", "address": PAYEE, "amount": "0xde0b6b3a7640000"},
    ]
    events = block_events(CHAIN, block_with([Frame("CALL", USER, WALLET, 1)], None, withdrawals=withdrawals))
    assert [e["kind"] for e in events] == ["transaction", "native_transfer", "withdrawal", "withdrawal"]
    first = events[2]
    assert first == {
        "id": f"{CHAIN}:{BLOCK_HASH}:withdrawal:{0x2a9b1f}",
        "kind": "withdrawal",
        "chain_id": CHAIN,
        "block_number": 42,
        "block_hash": BLOCK_HASH,
        "block_timestamp": 1_700_000_000,
        "tx_hash": None,
        "tx_index": None,
        "log_index": None,
        "to": "0x" + "f1" * 20,
        "value": str(0x11 * 10**9),
        "validator_index": 0x10,
        "withdrawal_index": 0x2a9b1f,
    }
    assert events[3]["value"] == str(0xDE0B6B3A7640000 * 10**9)


def test_a_malformed_withdrawal_names_itself():
    withdrawals = [{"index": "0x1", "validatorIndex": "0x1", "address": PAYEE, "amount": None}]
    with pytest.raises(MalformedBlockError, match="withdrawal 0 withdrawal field 'amount'"):
        block_events(CHAIN, block_with([], None, withdrawals=withdrawals))


# Random call trees: both formats give the same transfers, and those are what a brute-force reading says.
_TYPES = ["CALL", "CALL", "CALL", "DELEGATECALL", "STATICCALL", "CALLCODE", "CREATE", "CREATE2", "SELFDESTRUCT"]


def _frames(depth: int):
    leaf = st.builds(
        Frame, st.sampled_from(_TYPES), st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES), st.integers(0, 3),
        st.booleans(),
    )  # fmt: skip
    if depth == 0:
        return leaf
    return st.builds(
        Frame, st.sampled_from(_TYPES), st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES), st.integers(0, 3),
        st.booleans(), st.lists(_frames(depth - 1), max_size=3),
    )  # fmt: skip


def _reference(frame: Frame, position: int) -> list[tuple]:
    moved = {"CALL": "call", "CREATE": "create", "CREATE2": "create2", "SELFDESTRUCT": "selfdestruct"}
    found = []

    def visit(node: Frame, path: tuple[int, ...], alive: bool) -> None:
        alive = alive and not node.reverted
        if path and alive and node.type in moved and node.value > 0:
            found.append((position, ".".join(map(str, path)), moved[node.type], node.sender, node.to, str(node.value)))
        for index, child in enumerate(node.calls):
            visit(child, (*path, index), alive)

    visit(frame, (), True)
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(st.builds(Frame, st.just("CALL"), st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES),
                          st.integers(0, 3), st.booleans(), st.lists(_frames(2), max_size=4)), max_size=3))  # fmt: skip
def test_both_trace_formats_agree_with_a_brute_force_reading(frames):
    expected = [transfer for position, frame in enumerate(frames) for transfer in _reference(frame, position)]
    for trace_format in (CALL_TRACER, PARITY):
        assert internal(block_events(CHAIN, block_with(frames, trace_format))) == expected
