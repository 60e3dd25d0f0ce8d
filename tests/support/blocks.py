"""Blocks for tests, built as a node answers them (RawBlock)."""

from __future__ import annotations

from blockhook.chain.events import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC
from blockhook.chain.reader import RawBlock
from blockhook.chain.traces import CALL_TRACER

A, B, C = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
BLOCK_HASH = "0x" + "ab" * 32


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _word(value: int) -> str:
    return f"{value:064x}"


def every_kind_block() -> RawBlock:
    """One block that makes an event of every kind: a transaction from A to C that moves value, calls B
    inside, and emits an ERC-20, an ERC-721, an ERC-1155 single and an ERC-1155 batch transfer from A to
    B (all logs of C); and a withdrawal to B."""
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
