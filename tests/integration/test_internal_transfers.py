"""Value moved by real contracts on Anvil, as events, against two independent readings.

Each scenario is one transaction in its own block. Its events are read with `trace_block` (the format
ingest picks on Anvil) and must equal (1) the internal transfers Anvil's callTracer gives for the same
block, and (2) the balance changes of every account involved: what the events say each account received
minus what it sent, minus the gas a sender paid, is exactly what its balance did.
"""

from __future__ import annotations

import secrets
import time

import pytest

from blockhook.chain.events import block_events
from blockhook.chain.reader import RpcChainReader
from blockhook.chain.rpc import JsonRpcClient
from blockhook.chain.traces import CALL_TRACER, PARITY
from blockhook.local.servers import anvil, free_port
from tests.support.artifacts import deploy
from tests.support.contracts import (
    ACT_CALL,
    ACT_CREATE,
    ACT_CREATE2,
    ACT_DELEGATECALL,
    ACT_SELFDESTRUCT,
    ACTOR_RUNTIME,
    ANVIL_ACCOUNTS,
    act,
    place_contract,
    rpc,
    send_tx,
)

pytestmark = pytest.mark.integration

CHAIN_ID = 31337
OWNER, SENDER = ANVIL_ACCOUNTS[0], ANVIL_ACCOUNTS[1]
ETHER = 10**18
MOVING = ("native_transfer", "internal_transfer")


@pytest.fixture(scope="module")
def url():
    server = anvil(free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


def fresh_address() -> str:
    return "0x" + secrets.token_hex(20)


@pytest.fixture(scope="module")
def actors(url) -> list[str]:
    found = []
    for _ in range(3):
        address = fresh_address()
        place_contract(url, address, ACTOR_RUNTIME)
        rpc(url, "anvil_setBalance", [address, hex(5 * ETHER)])
        found.append(address)
    return found


@pytest.fixture(scope="module")
def contracts(url) -> dict:
    weth = deploy(url, OWNER, "WETH9")
    token = deploy(url, OWNER, "ERC20PresetMinterPauser", "Token", "TKN")
    factory = deploy(url, OWNER, "UniswapV2Factory", OWNER)
    router = deploy(url, OWNER, "UniswapV2Router02", factory.address, weth.address)
    token.send(OWNER, "mint(address,uint256)", SENDER, 10**24)
    token.send(SENDER, "approve(address,uint256)", router.address, 2**256 - 1)
    deadline = int(time.time()) + 3600
    router.send(SENDER, "addLiquidityETH(address,uint256,uint256,uint256,address,uint256)",
                token.address, 10**21, 0, 0, SENDER, deadline, value=10 * ETHER, gas=5_000_000)  # fmt: skip
    return {"weth": weth, "token": token, "router": router}


def read(url: str, number: int, trace_format: str) -> list[dict]:
    reader = RpcChainReader(JsonRpcClient([url], timeout=10), trace_format)
    [block] = reader.blocks(number, number)
    return block_events(CHAIN_ID, block)


def balance(url: str, address: str, number: int) -> int:
    return int(rpc(url, "eth_getBalance", [address, hex(number)]), 16)


def check_against_both_readings(url: str, receipt: dict) -> list[dict]:
    """The scenario's events, once both independent readings agreed with them."""
    number = int(receipt["blockNumber"], 16)
    events = read(url, number, PARITY)
    internal = [e for e in events if e["kind"] == "internal_transfer"]
    assert internal == [e for e in read(url, number, CALL_TRACER) if e["kind"] == "internal_transfer"]

    moved = [e for e in events if e["kind"] in MOVING]
    accounts = {e[side] for e in moved for side in ("from", "to")} | {receipt["from"].lower()}
    if receipt.get("to"):
        accounts.add(receipt["to"].lower())
    for account in accounts:
        change = balance(url, account, number) - balance(url, account, number - 1)
        said = sum(int(e["value"]) for e in moved if e["to"] == account)
        said -= sum(int(e["value"]) for e in moved if e["from"] == account)
        if account == receipt["from"].lower():
            said -= int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
        assert change == said, f"{account}: balance moved {change}, the events say {said}"
    return events


def moved(events: list[dict]) -> list[tuple]:
    return [(e["kind"], e.get("call_type"), e.get("trace_address"), e["from"], e["to"], int(e["value"]))
            for e in events if e["kind"] in MOVING]  # fmt: skip


def test_weth_withdraw_pays_ether_out_through_an_internal_call(url, contracts):
    weth = contracts["weth"]
    deposit = weth.send(SENDER, "deposit()", value=3 * ETHER)
    assert moved(check_against_both_readings(url, deposit)) == [
        ("native_transfer", None, None, SENDER, weth.address, 3 * ETHER)
    ]
    withdraw = weth.send(SENDER, "withdraw(uint256)", ETHER)
    assert moved(check_against_both_readings(url, withdraw)) == [
        ("internal_transfer", "call", "0", weth.address, SENDER, ETHER)
    ]


def test_swap_to_ether_through_the_uniswap_router(url, contracts):
    router, weth, token = contracts["router"], contracts["weth"], contracts["token"]
    receipt = router.send(SENDER, "swapExactTokensForETH(uint256,uint256,address[],address,uint256)",
                          10**18, 0, [token.address, weth.address], SENDER, int(time.time()) + 600,
                          gas=1_000_000)  # fmt: skip
    assert receipt["status"] == "0x1"
    events = check_against_both_readings(url, receipt)
    # WETH pays the router (WETH.withdraw), the router pays the user: value through two contracts.
    unwrap, payout = moved(events)
    assert (unwrap[1], unwrap[3], unwrap[4]) == ("call", weth.address, router.address)
    assert (payout[1], payout[3], payout[4]) == ("call", router.address, SENDER)
    assert unwrap[2].count(".") == 1 and payout[2].count(".") == 0  # inside WETH.withdraw; the router's own call
    assert unwrap[5] == payout[5] > 0


def test_failed_transactions_with_value_move_nothing(url, contracts):
    token, router, weth = contracts["token"], contracts["router"], contracts["weth"]
    failures = [
        # ether to a token without a receive function
        send_tx(url, SENDER, token.address, value=ETHER, gas=100_000),
        # a swap past its deadline
        router.send(SENDER, "swapExactETHForTokens(uint256,address[],address,uint256)", 0,
                    [weth.address, token.address], SENDER, 1, value=ETHER, gas=300_000),  # fmt: skip
        # a creation whose constructor is not payable
        send_tx(url, SENDER, None, value=ETHER, data=deploy_code(), gas=3_000_000),
    ]
    for receipt in failures:
        assert receipt["status"] == "0x0"
        events = check_against_both_readings(url, receipt)
        assert [e["kind"] for e in events] == ["transaction"]
        assert events[0]["status"] == 0 and events[0]["value"] == str(ETHER)


def deploy_code() -> str:
    from tests.support.artifacts import creation_code

    return creation_code("ERC20PresetMinterPauser", "T", "T")


def run(url: str, actor: str, calldata: str, value: int = 0) -> list[dict]:
    receipt = send_tx(url, OWNER, actor, value, calldata, gas=1_000_000)
    assert receipt["status"] == "0x1"
    return check_against_both_readings(url, receipt)


def test_nested_calls(url, actors):
    a, b, c = actors
    user = fresh_address()
    events = run(url, a, act(ACT_CALL, b, 5, forward=act(ACT_CALL, c, 3, forward=act(ACT_CALL, user, 2))))
    assert moved(events) == [
        ("internal_transfer", "call", "0", a, b, 5),
        ("internal_transfer", "call", "0.0", b, c, 3),
        ("internal_transfer", "call", "0.0.0", c, user, 2),
    ]


def test_a_reverted_inner_call_inside_a_successful_transaction_moves_nothing(url, actors):
    a, b, _ = actors
    user = fresh_address()
    # a pays b 5, b pays the user 3 and then reverts: b's frame and the payment beneath it are undone, a goes on
    events = run(url, a, act(ACT_CALL, b, 5, forward=act(ACT_CALL, user, 3, revert=True)), value=9)
    assert moved(events) == [("native_transfer", None, None, OWNER, a, 9)]
    assert balance(url, user, int(events[0]["block_number"])) == 0


def test_delegatecall_into_a_contract_that_sends_value(url, actors):
    a, b, _ = actors
    user = fresh_address()
    # b's code runs as a: the value leaves a, and the delegatecall itself (reported with a's value) moves nothing
    events = run(url, a, act(ACT_DELEGATECALL, b, forward=act(ACT_CALL, user, 7)), value=4)
    assert moved(events) == [
        ("native_transfer", None, None, OWNER, a, 4),
        ("internal_transfer", "call", "0.0", a, user, 7),
    ]


def test_selfdestruct_with_value(url, actors):
    a = actors[0]
    doomed = fresh_address()
    place_contract(url, doomed, ACTOR_RUNTIME)
    rpc(url, "anvil_setBalance", [doomed, hex(ETHER)])
    heir = fresh_address()
    events = run(url, a, act(ACT_CALL, doomed, forward=act(ACT_SELFDESTRUCT, heir)))
    assert moved(events) == [("internal_transfer", "selfdestruct", "0.0", doomed, heir, ETHER)]


def test_contract_creation_with_value_from_inside_a_call(url, actors):
    a, b, _ = actors
    events = run(url, a, act(ACT_CALL, b, forward=act(ACT_CREATE, value=11)))
    [(kind, call_type, path, sender, created, value)] = moved(events)
    assert (kind, call_type, path, sender, value) == ("internal_transfer", "create", "0.0", b, 11)
    assert rpc(url, "eth_getCode", [created, "latest"]) == "0x"  # made, and holds the value
    salt = "0x" + secrets.token_hex(32)
    events = run(url, a, act(ACT_CREATE2, salt[:42], value=12))
    assert [(m[1], m[2], m[3], m[5]) for m in moved(events)] == [("create2", "0", a, 12)]
