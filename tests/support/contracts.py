"""Test contracts written as EVM bytecode by hand (no solc here), and helpers to use them on Anvil.

TOKEN_RUNTIME answers transfer(address,uint256) with an ERC-20 Transfer log;
LOG_EMITTER_RUNTIME emits whatever log its calldata describes, so tests can
produce ERC-721, ERC-1155 and malformed logs without real token contracts.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from eth_utils import keccak

# The 10 funded accounts of Anvil's default mnemonic ("test test ... junk").
ANVIL_ACCOUNTS: list[str] = [
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
    "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
    "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65",
    "0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc",
    "0x976ea74026e726554db657fa54763abd0c3a0aa9",
    "0x14dc79964da2c08b23698b3d3cc7ca32193d9955",
    "0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f",
    "0xa0ee7a142d267c1f36714e4a8f75612f20a79720",
]

TRANSFER_SELECTOR = "a9059cbb"  # transfer(address,uint256)

_OPCODES = {
    "STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "EQ": 0x14, "ISZERO": 0x15, "AND": 0x16, "SHL": 0x1B, "SHR": 0x1C,
    "CALLER": 0x33, "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CALLDATACOPY": 0x37, "CODECOPY": 0x39,
    "SUB": 0x03, "POP": 0x50, "MSTORE": 0x52, "JUMP": 0x56, "JUMPI": 0x57, "JUMPDEST": 0x5B,
    "DUP1": 0x80, "DUP2": 0x81, "DUP3": 0x82, "DUP4": 0x83, "DUP5": 0x84, "DUP6": 0x85, "SWAP1": 0x90,
    "LOG0": 0xA0, "LOG1": 0xA1, "LOG2": 0xA2, "LOG3": 0xA3, "LOG4": 0xA4,
    "RETURN": 0xF3, "REVERT": 0xFD, "INVALID": 0xFE,
    "LT": 0x10, "GAS": 0x5A, "CREATE": 0xF0, "CALL": 0xF1, "DELEGATECALL": 0xF4, "CREATE2": 0xF5,
    "SELFDESTRUCT": 0xFF,
}  # fmt: skip


def assemble(*program: str | int | tuple[str, str]) -> str:
    """A tiny assembler: opcode names, ints (pushed with the smallest PUSHn), ("label", name) and
    ("push_label", name) for jump targets (always PUSH2). Returns 0x-hex bytecode."""
    labels: dict[str, int] = {}
    for final_pass in (False, True):
        code = bytearray()
        for item in program:
            if isinstance(item, tuple):
                kind, name = item
                if kind == "label":
                    labels[name] = len(code)
                    code.append(_OPCODES["JUMPDEST"])
                else:
                    target = labels.get(name, 0) if not final_pass else labels[name]
                    code += bytes([0x61]) + target.to_bytes(2, "big")
            elif isinstance(item, int):
                size = max(1, (item.bit_length() + 7) // 8)
                code += bytes([0x5F + size]) + item.to_bytes(size, "big")
            else:
                code.append(_OPCODES[item])
    return "0x" + code.hex()


TRANSFER_TOPIC = int.from_bytes(keccak(text="Transfer(address,address,uint256)"), "big")

TOKEN_RUNTIME: str = assemble(
    # Only transfer(address,uint256); anything else reverts.
    0, "CALLDATALOAD", 0xE0, "SHR", int(TRANSFER_SELECTOR, 16), "EQ", ("push_label", "transfer"), "JUMPI",
    0, "DUP1", "REVERT",
    ("label", "transfer"),
    0x24, "CALLDATALOAD", 0, "MSTORE",                    # memory[0:32] = amount
    0x04, "CALLDATALOAD", (1 << 160) - 1, "AND",         # topic 2: to
    "CALLER",                                             # topic 1: from = msg.sender
    TRANSFER_TOPIC,                                       # topic 0
    0x20, 0, "LOG3",
    1, 0, "MSTORE", 0x20, 0, "RETURN",                    # return true
)  # fmt: skip


def _emit_with_topics(count: int) -> list[Any]:
    # Stack on entry: [n, len]. Push topics last-first so topic 0 ends on top, then size and offset.
    code: list[Any] = [("label", f"log{count}"), "POP"]
    for topic in reversed(range(count)):
        code += [0x20 + 0x20 * topic, "CALLDATALOAD"]
    code += [f"DUP{count + 1}", 0, f"LOG{count}", "STOP"]
    return code


LOG_EMITTER_RUNTIME: str = assemble(
    # data offset = 32 + 32 * n; data length = calldatasize - offset; copy the data to memory 0.
    0x20, 0, "CALLDATALOAD", 5, "SHL", "ADD",            # [off]
    "DUP1", "CALLDATASIZE", "SUB",                        # [len, off]
    "DUP1", "DUP3",                                       # [off, len, len, off]
    0, "CALLDATACOPY",                                    # [len, off]
    "SWAP1", "POP",                                       # [len]
    0, "CALLDATALOAD",                                    # [n, len]
    *[op for n in range(5) for op in ("DUP1", n, "EQ", ("push_label", f"log{n}"), "JUMPI")],
    0, "DUP1", "REVERT",                                  # n > 4
    *[op for n in range(5) for op in _emit_with_topics(n)],
)  # fmt: skip

# Calldata: times (word 0), topic (word 1), then a piece of data. Emits one LOG1 with that topic whose data
# is the piece `times` over: a log of megabytes from a transaction small enough for a node's request limit.
LOG_REPEATER_RUNTIME: str = assemble(
    0x40, "CALLDATASIZE", "SUB",                          # [len]
    0, "CALLDATALOAD",                                    # [times, len]
    0,                                                    # [i, times, len]
    ("label", "copy"),
    "DUP2", "DUP2", "EQ", ("push_label", "emit"), "JUMPI",
    "DUP3", 0x40, "DUP3", "DUP6", "MUL",                  # [i*len, 0x40, len, i, times, len]
    "CALLDATACOPY",                                       # memory[i*len:(i+1)*len] = the piece
    1, "ADD", ("push_label", "copy"), "JUMP",             # [i+1, times, len]
    ("label", "emit"),
    "POP", "MUL",                                         # [times*len]
    0x20, "CALLDATALOAD", "SWAP1", 0,                     # [0, size, topic]
    "LOG1", "STOP",
)  # fmt: skip

REVERTING_RUNTIME: str = "0xfe"  # INVALID: every call fails and uses all its gas


def creation_code(runtime_hex: str) -> str:
    """Init code that deploys `runtime_hex`: copy the runtime that follows this prefix and return it."""
    runtime = bytes.fromhex(runtime_hex.removeprefix("0x"))
    prefix_size = 13  # the length of the prefix below, fixed by its PUSH2 operands
    prefix = bytes.fromhex(
        "61"
        + len(runtime).to_bytes(2, "big").hex()  # PUSH2 size
        + "80"  # DUP1
        + "61"
        + prefix_size.to_bytes(2, "big").hex()  # PUSH2 offset
        + "6000"  # PUSH1 0
        + "39"  # CODECOPY(0, offset, size)
        + "6000"  # PUSH1 0
        + "f3"  # RETURN(0, size)
    )
    assert len(prefix) == prefix_size
    return "0x" + (prefix + runtime).hex()


def rpc(url: str, method: str, params: list) -> Any:
    """One JSON-RPC call; raises RuntimeError on a JSON-RPC error."""
    response = requests.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    if body.get("error"):
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


def place_contract(url: str, address: str, runtime_hex: str) -> None:
    rpc(url, "anvil_setCode", [address, runtime_hex])


def send_transaction(
    url: str, sender: str, to: str | None, value: int = 0, data: str = "0x", gas: int | None = None
) -> str:
    """eth_sendTransaction from an unlocked Anvil account; returns the hash without waiting (for manual mining)."""
    tx: dict[str, Any] = {"from": sender, "value": hex(value), "data": data}
    if to is not None:
        tx["to"] = to
    if gas is not None:
        tx["gas"] = hex(gas)  # skips estimation, which refuses a transaction that would fail
    return rpc(url, "eth_sendTransaction", [tx])


def wait_for_receipt(url: str, tx_hash: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        receipt = rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {tx_hash} after {timeout}s")
        time.sleep(0.05)


def send_tx(
    url: str, sender: str, to: str | None, value: int = 0, data: str = "0x", gas: int | None = None
) -> dict:
    """Send from an unlocked Anvil account and return the receipt once mined. Give `gas` for a call
    meant to fail (estimation would refuse it)."""
    return wait_for_receipt(url, send_transaction(url, sender, to, value, data, gas))


def transfer_calldata(to: str, amount: int) -> str:
    return "0x" + TRANSFER_SELECTOR + _word(int(to, 16)) + _word(amount)


def token_transfer(url: str, token: str, sender: str, to: str, amount: int) -> dict:
    return send_tx(url, sender, token, data=transfer_calldata(to, amount))


def emitter_calldata(topics: list[str], data: str) -> str:
    if len(topics) > 4:
        raise ValueError("a log has at most 4 topics")
    encoded_topics = "".join(topic.removeprefix("0x").rjust(64, "0") for topic in topics)
    return "0x" + _word(len(topics)) + encoded_topics + data.removeprefix("0x")


def emit_log(url: str, emitter: str, sender: str, topics: list[str], data: str) -> dict:
    """Have LOG_EMITTER_RUNTIME at `emitter` emit one log with these topics (32-byte hex each) and data."""
    return send_tx(url, sender, emitter, data=emitter_calldata(topics, data))


def emit_repeated_log(url: str, emitter: str, sender: str, topic: str, piece: str, times: int) -> dict:
    """Have LOG_REPEATER_RUNTIME at `emitter` emit one log with `topic` whose data is `piece` (hex) `times` over."""
    calldata = "0x" + _word(times) + topic.removeprefix("0x").rjust(64, "0") + piece.removeprefix("0x")
    return send_tx(url, sender, emitter, data=calldata)


def address_topic(address: str) -> str:
    return "0x" + address.removeprefix("0x").lower().rjust(64, "0")


def uint_topic(value: int) -> str:
    return "0x" + _word(value)


def _word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


# ACTOR_RUNTIME does one thing with value, told by its calldata, so tests can build call trees of any shape:
# word 0 the action (ACT_*), word 1 the target (the salt for CREATE2), word 2 the value, word 3 nonzero to
# revert its own frame afterwards; the bytes after word 3 are the calldata it forwards (CALL, DELEGATECALL).
# A call's failure is ignored, so a reverted inner frame leaves the outer one standing. Shorter calldata
# (a plain payment) is accepted and does nothing.
ACT_CALL, ACT_DELEGATECALL, ACT_CREATE, ACT_CREATE2, ACT_SELFDESTRUCT = range(5)

ACTOR_RUNTIME: str = assemble(
    128, "CALLDATASIZE", "LT", ("push_label", "stop"), "JUMPI",
    128, "CALLDATASIZE", "SUB", 128, 0, "CALLDATACOPY",                          # memory[0:] = forwarded calldata
    0, "CALLDATALOAD",
    "DUP1", "ISZERO", ("push_label", "call"), "JUMPI",
    "DUP1", ACT_DELEGATECALL, "EQ", ("push_label", "delegatecall"), "JUMPI",
    "DUP1", ACT_CREATE, "EQ", ("push_label", "create"), "JUMPI",
    "DUP1", ACT_CREATE2, "EQ", ("push_label", "create2"), "JUMPI",
    0x20, "CALLDATALOAD", "SELFDESTRUCT",
    ("label", "call"),
    0, 0, 128, "CALLDATASIZE", "SUB", 0, 0x40, "CALLDATALOAD", 0x20, "CALLDATALOAD", "GAS", "CALL", "POP",
    ("push_label", "end"), "JUMP",
    ("label", "delegatecall"),
    0, 0, 128, "CALLDATASIZE", "SUB", 0, 0x20, "CALLDATALOAD", "GAS", "DELEGATECALL", "POP",
    ("push_label", "end"), "JUMP",
    ("label", "create"),                                                         # init code: one STOP byte
    1, "CALLDATASIZE", 0x40, "CALLDATALOAD", "CREATE", "POP",
    ("push_label", "end"), "JUMP",
    ("label", "create2"),
    0x20, "CALLDATALOAD", 1, "CALLDATASIZE", 0x40, "CALLDATALOAD", "CREATE2", "POP",
    ("label", "end"),
    0x60, "CALLDATALOAD", ("push_label", "revert"), "JUMPI",
    ("label", "stop"),
    "STOP",
    ("label", "revert"),
    0, 0, "REVERT",
)  # fmt: skip


def act(action: int, target: str = "0x" + "00" * 20, value: int = 0, revert: bool = False, forward: str = "0x") -> str:
    """Calldata for ACTOR_RUNTIME; nest calls by forwarding another act(...)."""
    return (
        "0x" + _word(action) + _word(int(target, 16)) + _word(value) + _word(int(revert)) + forward.removeprefix("0x")
    )
