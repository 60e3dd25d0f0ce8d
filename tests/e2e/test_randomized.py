"""A randomized run against the whole local stack, scored against an independent reading of the chain.

Hundreds of mixed transactions (ETH and token transfers, creations, reverts, arbitrary logs, failed
transactions that carry value, random call trees of value-moving contracts, WETH9 deposits and
withdrawals) among dozens of accounts, in all three common transaction types, packed into blocks of
random size, are watched by monitors with different filters. The expected (monitor, event id) set is
computed here from raw JSON-RPC and the event rules of docs/events.md, without blockhook's chain or matching
code: internal transfers from the node's callTracer (`debug_traceBlockByNumber`; ingest reads the other
format, Parity's `trace_block`, on Anvil). Recall and precision of what the webhooks received must be exactly 1,
overall and for each kind.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from blockhook.local.servers import REPO_ROOT
from tests.support.artifacts import deploy
from tests.support.contracts import (
    ACT_CALL,
    ACT_CREATE,
    ACT_CREATE2,
    ACT_DELEGATECALL,
    ACT_SELFDESTRUCT,
    ACTOR_RUNTIME,
    ANVIL_ACCOUNTS,
    LOG_EMITTER_RUNTIME,
    REVERTING_RUNTIME,
    TOKEN_RUNTIME,
    act,
    address_topic,
    creation_code,
    emitter_calldata,
    place_contract,
    rpc,
    send_tx,
    transfer_calldata,
    uint_topic,
)
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

SEED = 20_250_917
CHAIN_ID = 31337
TRANSACTIONS = 300
BURST = 110  # one block with more than 100 matches for one monitor: its delivery must be split
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "randomized_e2e.json"

TOKENS = [f"0x00000000000000000000000000000000000e2e3{n}" for n in (1, 2, 3)]
EMITTER = "0x00000000000000000000000000000000000e2e40"
ACTORS = [f"0x00000000000000000000000000000000000e2e5{n}" for n in range(4)]
REVERTER = "0x00000000000000000000000000000000000e2e60"  # fails every call, value or not
PRECOMPILES = ["0x0000000000000000000000000000000000000001", "0x0000000000000000000000000000000000000004"]
TRANSFER_SIGNATURE = "Transfer(address indexed from, address indexed to, uint256 value)"
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
APPROVAL_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()
MAX_UINT = 2**256 - 1
ETHER = 10**18
REVERTING_CREATION = "0x60006000fd"  # init code: REVERT(0, 0)
GAS_PRICE = 5 * 10**9  # for legacy and access-list transactions: above Anvil's base fee
NESTED_GAS = 1_000_000  # estimation falls short for nested calls, and refuses a transaction meant to fail

# The kinds the monitors use; the run is scored for each.
SCORED_KINDS = ("transaction", "native_transfer", "internal_transfer", "withdrawal", "erc20_transfer", "log")


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


# ---------------------------------------------------------------------------------------------
# The monitors, as data: the API body and the same filters in the shape the reference uses.


@dataclass
class MonitorSpec:
    key: str
    kinds: list[str]
    # lowercase address -> label; None: no address list, the monitor watches every party
    addresses: dict[str, str | None] | None = None
    contracts: list[str] = field(default_factory=list)
    event_signatures: list[str] = field(default_factory=list)
    topics: frozenset[str] = frozenset()  # topic 0 of each signature
    condition: str | None = None
    holds: Callable[[dict], bool] = lambda event: True  # the condition, read here in Python

    def body(self, webhook_url: str, rng: random.Random) -> dict:
        def spelled(address: str) -> str:
            # Any case is accepted (CONTRACT section 2): send some checksummed, some lowercase.
            return to_checksum_address(address) if rng.random() < 0.5 else address

        filters: dict[str, Any] = {"kinds": self.kinds, "contracts": self.contracts}
        if self.addresses is not None:
            filters["addresses"] = [
                {"address": spelled(address), "label": label} if label is not None else spelled(address)
                for address, label in self.addresses.items()
            ]
        if self.event_signatures:
            filters["event_signatures"] = self.event_signatures
        body = {"name": f"randomized {self.key}", "chain_ids": [CHAIN_ID], "webhook_url": webhook_url,
                "filters": filters, "confirmations": 0}  # fmt: skip
        if self.condition is not None:
            body["condition"] = self.condition
        return body


@dataclass
class World:
    recipients: list[str]  # generated from the seed
    senders: list[str]  # the funded Anvil accounts and a few impersonated recipients
    weth: str
    monitors: list[MonitorSpec]

    @property
    def accounts(self) -> list[str]:
        return sorted(set(self.recipients) | set(self.senders))


def labelled(rng: random.Random, addresses: list[str], prefix: str) -> dict[str, str | None]:
    unlabelled = set(rng.sample(addresses, 2))  # labels are absent for these (CONTRACT section 4)
    return {
        address: None if address in unlabelled else f"{prefix}-{n}" for n, address in enumerate(addresses)
    }


def build_world(rng: random.Random, weth: str) -> World:
    recipients = [f"0x{rng.getrandbits(160):040x}" for _ in range(40)]
    impersonated = recipients[:5]
    senders = [*ANVIL_ACCOUNTS, *impersonated]
    watched = [*rng.sample(recipients, 7), ANVIL_ACCOUNTS[1], ANVIL_ACCOUNTS[2], TOKENS[2], REVERTER]
    tx_watch = {ANVIL_ACCOUNTS[0]: "treasury", ANVIL_ACCOUNTS[3]: None, impersonated[0]: "hot-wallet",
                ACTORS[0]: "actor-zero", weth: None}  # fmt: skip
    value_watch = [ACTORS[0], ACTORS[1], weth, ANVIL_ACCOUNTS[4], *rng.sample(recipients, 6)]
    return World(
        recipients=recipients,
        senders=senders,
        weth=weth,
        monitors=[
            MonitorSpec(
                "a_deposits",
                ["native_transfer", "erc20_transfer"],
                addresses=labelled(rng, watched, "customer"),
            ),
            MonitorSpec("b_token1_all", ["erc20_transfer"], contracts=[TOKENS[0]]),
            MonitorSpec("c_sender_txs", ["transaction"], addresses=tx_watch),
            MonitorSpec(
                "d_transfer_logs",
                ["log"],
                addresses={TOKENS[1]: "token-two", EMITTER: None},
                event_signatures=[TRANSFER_SIGNATURE],
                topics=frozenset({TRANSFER_TOPIC}),
            ),
            MonitorSpec(
                "e_value_moves",
                ["native_transfer", "internal_transfer", "withdrawal"],
                addresses=labelled(rng, value_watch, "vault"),
            ),
            MonitorSpec("f_all_internal", ["internal_transfer"]),
            MonitorSpec(
                "g_failed_or_legacy",
                ["transaction"],
                condition="event.status == 0 || event.type == 0",
                holds=lambda event: event["status"] == 0 or event["type"] == 0,
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Traffic: random transactions, packed into blocks by turning automine off.


def prepare_chain(url: str, rng: random.Random) -> World:
    """The contracts and funded accounts the random traffic needs; its world of monitors."""
    weth = deploy(url, ANVIL_ACCOUNTS[0], "WETH9")
    world = build_world(rng, weth.address)
    for token in TOKENS:
        place_contract(url, token, TOKEN_RUNTIME)
    place_contract(url, EMITTER, LOG_EMITTER_RUNTIME)
    place_contract(url, REVERTER, REVERTING_RUNTIME)
    for actor in ACTORS:
        place_contract(url, actor, ACTOR_RUNTIME)
        rpc(url, "anvil_setBalance", [actor, hex(10 * ETHER)])
    for sender in world.senders[len(ANVIL_ACCOUNTS) :]:
        rpc(url, "anvil_setBalance", [sender, hex(10**24)])
        rpc(url, "anvil_impersonateAccount", [sender])
    # Monitors match from the head ingest last saw: empty blocks on top of the deployment, so that
    # no monitor, with confirmations 2 either, may be sent anything before them.
    for _ in range(3):
        rpc(url, "evm_mine", [])
    return world


def random_call(rng: random.Random, world: World) -> dict:
    """One random transaction, as eth_sendTransaction parameters."""
    call = random_payload(rng, world)
    roll = rng.random()  # the transaction type: legacy, access list (EIP-2930) or the default EIP-1559
    if roll < 0.15:
        call["gasPrice"] = GAS_PRICE
    elif roll < 0.25:
        call["gasPrice"], call["accessList"] = GAS_PRICE, []
    return call


def random_payload(rng: random.Random, world: World) -> dict:
    sender = rng.choice(world.senders)
    to = rng.choice(world.accounts)
    if rng.random() < 0.03:
        to = sender  # to oneself: one party, matched once
    roll = rng.random()
    if roll < 0.20:  # ETH transfer, sometimes of nothing (a transaction, no native_transfer)
        value = 0 if rng.random() < 0.1 else rng.randrange(1, 10**19)
        return {"from": sender, "to": to, "value": value}
    if roll < 0.45:  # token transfer, sometimes of 0 or of a huge amount, sometimes paying ETH too
        amount = rng.choice([0, MAX_UINT, rng.randrange(1, 10**24), rng.randrange(1, 10**6)])
        value = rng.randrange(1, 10**15) if rng.random() < 0.08 else 0
        return {
            "from": sender,
            "to": rng.choice(TOKENS),
            "value": value,
            "data": transfer_calldata(to, amount),
        }
    if roll < 0.52:  # an arbitrary log from the emitter: Transfer-like or not
        return {"from": sender, "to": EMITTER, "value": 0, "data": random_log(rng, world)}
    if roll < 0.60:  # a failed transaction, often carrying value: it moves none
        value = rng.choice([0, rng.randrange(1, 10**18)])
        shape = rng.randrange(3)
        if shape == 0:  # a call the contract refuses
            return {
                "from": sender,
                "to": rng.choice(TOKENS),
                "value": value,
                "data": "0xdeadbeef",
                "gas": 60_000,
            }
        if shape == 1:  # a contract that fails whatever it is sent
            return {"from": sender, "to": REVERTER, "value": value, "gas": 60_000}
        return {"from": sender, "to": None, "value": value, "data": REVERTING_CREATION, "gas": 100_000}
    if roll < 0.63:
        return {
            "from": sender,
            "to": None,
            "value": rng.choice([0, 12345]),
            "data": creation_code(TOKEN_RUNTIME),
        }
    if roll < 0.70:  # WETH9: deposit, or withdraw (paid out by an internal call; reverts beyond the balance)
        if rng.random() < 0.5:
            return {"from": sender, "to": world.weth, "value": rng.randrange(1, 10**18),
                    "data": selector("deposit()"), "gas": 100_000}  # fmt: skip
        amount = rng.choice([rng.randrange(1, 10**16), rng.randrange(1, 10**18)])
        return {"from": sender, "to": world.weth, "value": 0, "data": weth_withdraw(amount), "gas": 100_000}
    # A call tree through the actors: value moved at any depth, some frames reverted, some of the
    # transactions failing as a whole.
    value = rng.choice([0, rng.randrange(1, 10**17)])  # also tops up the actors that selfdestructs emptied
    # Reverting the outermost frame fails the whole transaction.
    data = random_act(rng, world, depth=0, revert=rng.random() < 0.1)
    return {"from": sender, "to": rng.choice(ACTORS), "value": value, "data": data, "gas": NESTED_GAS}


def weth_withdraw(amount: int) -> str:
    return selector("withdraw(uint256)") + f"{amount:064x}"


def random_act(rng: random.Random, world: World, depth: int, revert: bool | None = None) -> str:
    """ACTOR_RUNTIME calldata doing one random thing with value, forwarding more below it."""
    # 10**24 is more than any actor has: that frame fails, the one above goes on.
    value = rng.choice(
        [0, rng.randrange(1, 10**15), rng.randrange(1, 10**15), rng.randrange(1, 10**15), 10**24]
    )
    if revert is None:
        revert = rng.random() < 0.12
    nested = depth < 3 and rng.random() < 0.8
    roll = rng.random()
    if roll < 0.45:  # a call: to an actor (which acts in turn), WETH9, an account or a precompile
        target_roll = rng.random()
        if target_roll < 0.6:
            target = rng.choice(ACTORS)
            forward = random_act(rng, world, depth + 1) if nested else "0x"
        elif target_roll < 0.75:
            target = world.weth
            forward = selector("deposit()") if rng.random() < 0.5 else weth_withdraw(rng.randrange(1, 10**15))
        else:
            target = rng.choice(PRECOMPILES) if rng.random() < 0.5 else rng.choice(world.accounts)
            forward = "0x"
        return act(ACT_CALL, target, value, revert, forward)
    if roll < 0.6:  # another actor's code run as this one: its value moves from here
        forward = random_act(rng, world, depth + 1) if nested else "0x"
        return act(ACT_DELEGATECALL, rng.choice(ACTORS), 0, revert, forward)
    if roll < 0.75:
        return act(ACT_CREATE, value=value, revert=revert)
    if roll < 0.9:  # a salt used twice collides: that creation fails, the frame above goes on
        salt = f"0x{rng.randrange(8):040x}"
        return act(ACT_CREATE2, salt, value, revert)
    heir = rng.choice(ACTORS) if rng.random() < 0.5 else rng.choice(world.accounts)
    return act(ACT_SELFDESTRUCT, heir, revert=revert)


def random_log(rng: random.Random, world: World) -> str:
    party = lambda: address_topic(rng.choice(world.accounts))  # noqa: E731
    shape = rng.randrange(5)
    if shape == 0:  # an ERC-20 Transfer
        return emitter_calldata([TRANSFER_TOPIC, party(), party()], uint_topic(rng.randrange(10**20)))
    if shape == 1:  # an ERC-721 Transfer: a `log` with topic 0 Transfer, not an erc20_transfer
        return emitter_calldata([TRANSFER_TOPIC, party(), party(), uint_topic(rng.randrange(1000))], "0x")
    if shape == 2:
        return emitter_calldata([APPROVAL_TOPIC, party(), party()], uint_topic(rng.randrange(10**20)))
    if shape == 3:
        return emitter_calldata(
            [uint_topic(rng.getrandbits(256))], "0x" + rng.randbytes(rng.randrange(0, 3) * 32).hex()
        )
    return emitter_calldata([], "0x" + rng.randbytes(32).hex())


def send(url: str, call: dict) -> str:
    tx: dict[str, Any] = {"from": call["from"], "value": hex(call["value"]), "data": call.get("data", "0x")}
    if call["to"] is not None:
        tx["to"] = call["to"]
    # A given gas skips estimation, which refuses a transaction that would fail.
    for name in ("gas", "gasPrice"):
        if name in call:
            tx[name] = hex(call[name])
    if "accessList" in call:
        tx["accessList"] = call["accessList"]
    return rpc(url, "eth_sendTransaction", [tx])


def mine_batch(url: str, calls: list[dict]) -> list[dict]:
    """Send the calls with automine off, mine until all are in; return their receipts."""
    # Anvil's miner drops a pending transaction that tips more than an earlier one of its sender: the
    # fixed-price ones (tipping more than the default EIP-1559 ones) go first.
    calls = sorted(calls, key=lambda call: "gasPrice" not in call)
    hashes = [send(url, call) for call in calls]
    receipts: dict[str, dict] = {}
    for _ in range(10):
        rpc(url, "evm_mine", [])
        for tx_hash in hashes:
            if tx_hash not in receipts and (receipt := rpc(url, "eth_getTransactionReceipt", [tx_hash])):
                receipts[tx_hash] = receipt
        if len(receipts) == len(hashes):
            return [receipts[tx_hash] for tx_hash in hashes]
    raise AssertionError(f"{len(hashes) - len(receipts)} transactions never mined")


def run_traffic(url: str, rng: random.Random, world: World) -> tuple[list[dict], int]:
    """TRANSACTIONS random transactions (one block of BURST token-1 transfers among them); returns the
    receipts and the number of blocks mined."""
    sizes: list[int] = []
    remaining = TRANSACTIONS - BURST
    while remaining:
        sizes.append(min(remaining, rng.randrange(1, 25)))
        remaining -= sizes[-1]
    burst_at = rng.randrange(len(sizes))
    receipts: list[dict] = []
    before = int(rpc(url, "eth_blockNumber", []), 16)
    rpc(url, "evm_setAutomine", [False])
    try:
        for position, size in enumerate(sizes):
            if position == burst_at:
                burst = [
                    {"from": rng.choice(world.senders), "to": TOKENS[0], "value": 0,
                     "data": transfer_calldata(rng.choice(world.accounts), rng.randrange(1, 10**18))}
                    for _ in range(BURST)
                ]  # fmt: skip
                receipts += mine_batch(url, burst)
            receipts += mine_batch(url, [random_call(rng, world) for _ in range(size)])
    finally:
        rpc(url, "evm_setAutomine", [True])
    return receipts, int(rpc(url, "eth_blockNumber", []), 16) - before


# ---------------------------------------------------------------------------------------------
# The reference: events of CONTRACT section 3 and the ids of the event reference (docs/events.md), read
# with raw JSON-RPC.


def hex_int(value: str) -> int:
    return int(value, 16)


def topic_address(topic: str) -> str | None:
    body = topic.lower().removeprefix("0x")
    return "0x" + body[24:] if len(body) == 64 and body[:24] == "0" * 24 else None


_MOVES_VALUE = {"CALL": "call", "CREATE": "create", "CREATE2": "create2", "SELFDESTRUCT": "selfdestruct"}


def inner_frames(tree: dict, path: tuple[int, ...] = (), alive: bool = True):
    """(path, frame, alive) of every frame below a callTracer tree's root, in call-tree order; `alive` is
    False for a frame that reverted or sits beneath one that did."""
    for index, child in enumerate(tree.get("calls") or []):
        child_path, child_alive = (*path, index), alive and not child.get("error")
        yield child_path, child, child_alive
        yield from inner_frames(child, child_path, child_alive)


def traced_moves(tree: dict) -> list[tuple[str, str, str, int, str]]:
    """Value moved inside one transaction that did not fail, from its callTracer tree: every call, create,
    create2 or selfdestruct below the transaction's own frame that moves value > 0, unless it or a frame
    above it reverted. (trace_address, from, to, value, call_type), in call-tree order."""
    moves = []
    for path, frame, alive in inner_frames(tree):
        call_type, value = _MOVES_VALUE.get(frame["type"]), hex_int(frame.get("value") or "0x0")
        if alive and call_type and value > 0:
            moves.append((".".join(map(str, path)), frame["from"].lower(), frame["to"].lower(), value, call_type))
    return moves


def count_left_out(tree: dict, failed: bool, moved: int, seen: Counter[str]) -> None:
    """Inner frames that carried value but moved none by the rule (to show the traffic tried them)."""
    inner = [frame for _, frame, _ in inner_frames(tree)]
    seen["delegatecall_frames"] += sum(frame["type"] == "DELEGATECALL" for frame in inner)
    carrying = sum(
        hex_int(frame.get("value") or "0x0") > 0 and frame["type"] in _MOVES_VALUE for frame in inner
    )
    if failed:
        seen["value_frames_in_failed_transactions"] += carrying
    else:
        seen["value_frames_reverted_in_successful_transactions"] += carrying - moved


def reference_events(url: str, first: int, last: int) -> tuple[list[dict], dict[int, dict], Counter[str]]:
    """Every event of blocks first..last of the kinds our monitors use (SCORED_KINDS), each with
    `_parties`, `_emitter` and `_topic0` for matching; and counts of the inner frames that moved nothing."""
    events: list[dict] = []
    seen: Counter[str] = Counter()
    blocks: dict[int, dict] = {}
    for number in range(first, last + 1):
        block = rpc(url, "eth_getBlockByNumber", [hex(number), True])
        blocks[number] = block
        block_hash = block["hash"].lower()
        # The other trace format than ingest reads on Anvil (trace_block): geth's callTracer, a tree per transaction.
        frames_of = {
            position: traced["result"]
            for position, traced in enumerate(rpc(url, "debug_traceBlockByNumber", [hex(number), {"tracer": "callTracer"}]))
        }
        for tx in block["transactions"]:
            receipt = rpc(url, "eth_getTransactionReceipt", [tx["hash"]])
            tx_index = hex_int(tx["transactionIndex"])
            common = {"chain_id": CHAIN_ID, "block_number": number, "block_hash": block_hash,
                      "block_timestamp": hex_int(block["timestamp"]), "tx_hash": tx["hash"].lower(),
                      "tx_index": tx_index, "log_index": None}  # fmt: skip
            prefix = f"{CHAIN_ID}:{block_hash}:{tx_index}:"
            sender = tx["from"].lower()
            to = tx["to"].lower() if tx.get("to") else None
            created = receipt["contractAddress"].lower() if receipt.get("contractAddress") else None
            value = hex_int(tx["value"])
            data = tx.get("input") or tx.get("data") or "0x"
            status = hex_int(receipt["status"]) if receipt.get("status") is not None else None
            failed = status == 0  # no status at all (before Byzantium) is not a failure
            events.append({
                **common, "id": prefix + "tx:transaction", "kind": "transaction",
                "from": sender, "to": to, "value": str(value),
                "selector": data[:10].lower() if len(data) >= 10 else None, "status": status,
                "gas_used": hex_int(receipt["gasUsed"]), "contract_address": created,
                "type": hex_int(tx.get("type", "0x0")),
                "_parties": [sender, to, created], "_emitter": None, "_topic0": None,
            })  # fmt: skip
            if value > 0 and not failed:
                events.append({
                    **common, "id": prefix + "tx:native_transfer", "kind": "native_transfer",
                    "from": sender, "to": to or created, "value": str(value),
                    "_parties": [sender, to or created], "_emitter": None, "_topic0": None,
                })  # fmt: skip
            moves = [] if failed else traced_moves(frames_of[tx_index])
            count_left_out(frames_of[tx_index], failed, len(moves), seen)
            for path, source, target, moved, call_type in moves:
                events.append({
                    **common, "id": f"{prefix}tx:internal_transfer:{path}", "kind": "internal_transfer",
                    "from": source, "to": target, "value": str(moved), "call_type": call_type,
                    "trace_address": path, "_parties": [source, target], "_emitter": None, "_topic0": None,
                })  # fmt: skip
            for log in sorted(receipt["logs"], key=lambda log: hex_int(log["logIndex"])):
                log_index = hex_int(log["logIndex"])
                address = log["address"].lower()
                topics = [topic.lower() for topic in log["topics"]]
                topic0 = topics[0] if topics else None
                log_common = {**common, "log_index": log_index}
                log_prefix = f"{prefix}{log_index}:"
                data = log["data"].lower()
                if topic0 == TRANSFER_TOPIC and len(topics) == 3 and len(data) == 66:
                    source, target = topic_address(topics[1]), topic_address(topics[2])
                    if source and target:
                        events.append({
                            **log_common, "id": log_prefix + "erc20_transfer", "kind": "erc20_transfer",
                            "token": address, "from": source, "to": target, "value": str(int(data, 16)),
                            "_parties": [source, target], "_emitter": address, "_topic0": topic0,
                        })  # fmt: skip
                events.append({
                    **log_common, "id": log_prefix + "log", "kind": "log", "address": address,
                    "topics": topics, "data": data, "_parties": [address], "_emitter": address, "_topic0": topic0,
                })  # fmt: skip
        for withdrawal in block.get("withdrawals") or []:  # credited after every transaction, by none
            index = hex_int(withdrawal["index"])
            target = withdrawal["address"].lower()
            events.append({
                "id": f"{CHAIN_ID}:{block_hash}:withdrawal:{index}", "kind": "withdrawal", "chain_id": CHAIN_ID,
                "block_number": number, "block_hash": block_hash, "block_timestamp": hex_int(block["timestamp"]),
                "tx_hash": None, "tx_index": None, "log_index": None, "to": target,
                "value": str(hex_int(withdrawal["amount"]) * 10**9),
                "validator_index": hex_int(withdrawal["validatorIndex"]), "withdrawal_index": index,
                "_parties": [target], "_emitter": None, "_topic0": None,
            })  # fmt: skip
    return events, blocks, seen


def reference_matches(spec: MonitorSpec, event: dict) -> list[str] | None:
    """CONTRACT section 3: None when the monitor does not match, else the watched parties it matched on."""
    if event["kind"] not in spec.kinds:
        return None
    parties = list(dict.fromkeys(party for party in event["_parties"] if party))
    if spec.addresses is None:
        matched = []
    else:
        matched = [party for party in parties if party in spec.addresses]
        if not matched:
            return None
    if spec.contracts and event["_emitter"] not in spec.contracts:
        return None
    if spec.topics and event["_topic0"] not in spec.topics:
        return None
    if not spec.holds(event):
        return None
    return matched


def public(event: dict) -> dict:
    return {key: value for key, value in event.items() if not key.startswith("_")}


def chain_order(event: dict) -> tuple:
    """Where an event stands in its block (CONTRACT section 4, docs/events.md "Order"): by transaction,
    withdrawals last; a transaction's own events (transaction, native_transfer, then internal transfers in
    call-tree order) before its logs; then by log, a log's token event before the plain log."""
    rank = ("transaction", "native_transfer", "internal_transfer", "erc20_transfer", "log")
    tx_index, log_index = event["tx_index"], event["log_index"]
    path = [int(step) for step in event.get("trace_address", "").split(".") if step]
    within = rank.index(event["kind"]) if event["kind"] in rank else len(rank)
    return (tx_index is None, tx_index or 0, log_index is not None, log_index or 0, within, path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("randomized-stack")) as local:
        yield local


def test_randomized_traffic_is_delivered_exactly(stack, record_property):
    rng = random.Random(SEED)
    url = stack.rpc
    world = prepare_chain(url, rng)
    stack.wait_processed(CHAIN_ID, int(rpc(url, "eth_blockNumber", []), 16))

    receivers = {spec.key: WebhookReceiver().start() for spec in world.monitors}
    try:
        created = {
            spec.key: stack.create_monitor(spec.body(receivers[spec.key].url, rng)) for spec in world.monitors
        }
        # Everything up to here is processed before any monitor could see it: a delivery of an
        # earlier block would be an extra.
        start = int(rpc(url, "eth_blockNumber", []), 16)
        stack.wait_processed(CHAIN_ID, start)

        started = time.monotonic()
        receipts, blocks_mined = run_traffic(url, rng, world)
        deposit_watch = next(iter(world.monitors[0].addresses or {}))
        marker = send_tx(url, ANVIL_ACCOUNTS[9], deposit_watch, value=4242)  # automine is back on
        last = hex_int(marker["blockNumber"])
        receivers["a_deposits"].wait_for(
            lambda seen: any(
                e["tx_hash"] == marker["transactionHash"] for r in seen for e in r.json()["events"]
            ),
            timeout=60,
        )
        stack.wait_processed(CHAIN_ID, last)

        events, blocks, frames_left_out = reference_events(url, start + 1, last)
        expected: dict[tuple[str, str], tuple[dict, list[str]]] = {}
        for spec in world.monitors:
            monitor_id = created[spec.key]["id"]
            for event in events:
                matched = reference_matches(spec, event)
                if matched is not None:
                    expected[(monitor_id, event["id"])] = (event, matched)
        wanted = Counter(monitor_id for monitor_id, _ in expected)
        for spec in world.monitors:
            monitor_id = created[spec.key]["id"]

            def complete(seen, monitor_id=monitor_id) -> bool:
                ids = {event["id"] for request in seen for event in request.json()["events"]}
                return len(ids) >= wanted[monitor_id]

            with contextlib.suppress(AssertionError):  # scored below: recall says what is missing
                receivers[spec.key].wait_for(complete, timeout=30)
        time.sleep(2.5)  # anything extra from these blocks has been sent by now
        elapsed = time.monotonic() - started
    finally:
        for receiver in receivers.values():
            receiver.stop()

    received: dict[tuple[str, str], dict] = {}
    duplicates = 0
    deliveries = 0
    parts_per_block: Counter[tuple[str, int]] = Counter()  # (monitor, block number) -> deliveries
    problems: list[str] = []
    for spec in world.monitors:
        monitor = created[spec.key]
        receivers[spec.key].verify_all(monitor["secret"])
        for request in receivers[spec.key].requests:
            deliveries += 1
            payload = request.json()
            parts_per_block[(payload["monitor_id"], payload["block"]["number"])] += 1
            problems += delivery_problems(payload, monitor["id"], blocks)
            for event in payload["events"]:
                key = (payload["monitor_id"], event["id"])
                if key in received:
                    duplicates += 1
                received[key] = event
                problems += event_problems(event, spec, expected.get(key))

    # Numbered with no gaps, and the monitor says up to where: every sequence up to last_sequence
    # arrived, and that covers the last block of the traffic.
    for spec in world.monitors:
        monitor_id = created[spec.key]["id"]
        numbers = sorted({request.json()["sequence"] for request in receivers[spec.key].requests})
        (chain,) = stack.call("GET", f"/monitors/{monitor_id}").json()["chains"]
        if numbers != list(range(1, chain["last_sequence"] + 1)) or (chain["matched_through_block"] or 0) < last:
            problems.append(f"{spec.key}: sequences {numbers[:5]}...{numbers[-5:]} against {chain}")

    hits = len(expected.keys() & received.keys())
    recall = hits / len(expected) if expected else 1.0
    precision = hits / len(received) if received else 1.0
    key_of = {created[spec.key]["id"]: spec.key for spec in world.monitors}
    missing = sorted(expected.keys() - received.keys())
    extra = sorted(received.keys() - expected.keys())
    by_kind = score_by_kind(events, expected, received)
    results = {
        "seed": SEED,
        "transactions": len(receipts) + 1,
        "failed_transactions": sum(receipt["status"] == "0x0" for receipt in receipts),
        "failed_transactions_with_value": failed_with_value(url, receipts),
        "blocks": blocks_mined + 1,
        "events_on_chain": len(events),
        "expected_matches": len(expected),
        "received_matches": len(received),
        "matched": hits,
        "recall": recall,
        "precision": precision,
        "by_kind": by_kind,
        "internal_transfers_by_call_type": dict(
            sorted(Counter(e["call_type"] for e in events if e["kind"] == "internal_transfer").items())
        ),
        "internal_transfers_to_precompiles": sum(
            e["kind"] == "internal_transfer" and e["to"] in PRECOMPILES for e in events
        ),
        "inner_frames_moving_nothing": dict(sorted(frames_left_out.items())),
        "deliveries": deliveries,
        "duplicate_events": duplicates,
        "blocks_split_over_deliveries": sum(parts > 1 for parts in parts_per_block.values()),
        "expected_by_monitor": {key_of[m]: n for m, n in sorted(wanted.items())},
        "received_by_monitor": {key_of[m]: n for m, n in sorted(Counter(m for m, _ in received).items())},
        "traffic_to_settled_seconds": round(elapsed, 1),
        "missing_sample": [[key_of[m], e] for m, e in missing[:20]],
        "extra_sample": [[key_of[m], e] for m, e in extra[:20]],
        "problems_sample": problems[:20],
    }
    write_results(results)
    summary = {k: v for k, v in results.items() if not k.endswith("_sample")}
    print(f"randomized e2e: {json.dumps(summary)}")
    for name, value in summary.items():
        if name != "by_kind":
            record_property(name, value)
    for kind, score in by_kind.items():
        for name, value in score.items():
            record_property(f"{kind}_{name}", value)

    assert marker["status"] == "0x1"
    assert results["blocks_split_over_deliveries"] >= 1, "the burst block's matches must need two deliveries"
    assert wanted.keys() == set(key_of), "every monitor must have something to match, or it tests nothing"
    assert results["failed_transactions_with_value"] >= 5, "failed transactions carrying value must be tried"
    for kind in SCORED_KINDS:
        if kind != "withdrawal":  # Anvil's blocks have none (their list is read, and empty)
            assert by_kind[kind]["events_on_chain"] > 0 and by_kind[kind]["expected_matches"] > 0, (
                f"no {kind}"
            )
    assert {e["call_type"] for e in events if e["kind"] == "internal_transfer"} == {
        "call",
        "create",
        "create2",
        "selfdestruct",
    }, "internal transfers of every call type must be made"
    assert {e["type"] for e in events if e["kind"] == "transaction"} == {0, 1, 2}
    tried = (
        "delegatecall_frames",
        "value_frames_in_failed_transactions",
        "value_frames_reverted_in_successful_transactions",
    )
    assert all(frames_left_out[name] > 0 for name in tried), f"the traffic must try each: {frames_left_out}"
    assert not missing, (
        f"recall {recall:.4f}: {len(missing)} expected events never arrived, e.g. {missing[:5]}"
    )
    assert not extra, f"precision {precision:.4f}: {len(extra)} events arrived unexpected, e.g. {extra[:5]}"
    assert recall == 1.0 and precision == 1.0
    for kind, score in by_kind.items():
        assert (score["recall"], score["precision"]) == (1.0, 1.0), f"{kind}: {score}"
    assert not problems, f"{len(problems)} problems, e.g. {problems[:5]}"


def delivery_problems(payload: dict, monitor_id: str, blocks: dict[int, dict]) -> list[str]:
    """What is wrong with one delivery's envelope (CONTRACT section 4)."""
    problems = []
    name = f"delivery {payload.get('id')}"
    block = payload["block"]
    canonical = blocks.get(block["number"])
    if payload["monitor_id"] != monitor_id:
        problems.append(f"{name}: monitor {payload['monitor_id']} at the webhook of {monitor_id}")
    if payload["chain_id"] != CHAIN_ID or payload["removed"] is not False:
        problems.append(f"{name}: chain {payload['chain_id']}, removed {payload['removed']}")
    if canonical is None or (block["hash"], block["parent_hash"], block["timestamp"]) != (
        canonical["hash"], canonical["parentHash"], hex_int(canonical["timestamp"])
    ):  # fmt: skip
        problems.append(f"{name}: block {block} is not block {block['number']} of the chain")
    events = payload["events"]
    if not 1 <= len(events) <= 100:
        problems.append(f"{name}: {len(events)} events (1 to 100 allowed)")
    order = [chain_order(event) for event in events]
    if order != sorted(order):
        problems.append(f"{name}: events not in chain order: {[event['id'] for event in events]}")
    if {(event["block_number"], event["block_hash"]) for event in events} != {
        (block["number"], block["hash"])
    }:
        problems.append(f"{name}: events of another block than {block['number']}")
    return problems


def event_problems(event: dict, spec: MonitorSpec, reference: tuple[dict, list[str]] | None) -> list[str]:
    """What is wrong with one delivered event, compared with the chain and the monitor's addresses."""
    problems = []
    name = f"{spec.key} {event['id']}"
    if not isinstance(event.get("matched_addresses"), list):
        return [f"{name}: no matched_addresses list"]
    if reference is None:
        return problems  # an extra: counted by precision
    want, matched = reference
    wrong = {key: (event.get(key), value) for key, value in public(want).items() if event.get(key) != value}
    if wrong:
        problems.append(f"{name}: fields differ from the chain (got, want): {wrong}")
    if spec.addresses is not None:
        got = event["matched_addresses"]
        if sorted(got) != sorted(matched) or len(set(got)) != len(got):
            problems.append(f"{name}: matched_addresses {got}, want {matched}")
        labels = {
            address: spec.addresses[address] for address in matched if spec.addresses[address] is not None
        }
        if event.get("labels", {}) != labels or ("labels" in event and not labels):
            problems.append(f"{name}: labels {event.get('labels')}, want {labels or 'absent'}")
    elif event["matched_addresses"]:
        problems.append(
            f"{name}: matched_addresses {event['matched_addresses']} from a monitor watching every party"
        )
    return problems


def score_by_kind(
    events: list[dict], expected: dict[tuple[str, str], Any], received: dict[tuple[str, str], dict]
) -> dict[str, dict[str, Any]]:
    """Recall and precision of each kind's (monitor, event id) pairs, with the counts behind them; a kind
    no monitor asked for that arrived anyway is scored too (its precision is 0)."""
    kinds = list(dict.fromkeys([*SCORED_KINDS, *(str(event.get("kind")) for event in received.values())]))
    on_chain = Counter(event["kind"] for event in events)
    want = {kind: {key for key, (event, _) in expected.items() if event["kind"] == kind} for kind in kinds}
    got = {kind: {key for key, event in received.items() if str(event.get("kind")) == kind} for kind in kinds}
    scores = {}
    for kind in kinds:
        hits = len(want[kind] & got[kind])
        scores[kind] = {
            "events_on_chain": on_chain[kind],
            "expected_matches": len(want[kind]),
            "received_matches": len(got[kind]),
            "recall": hits / len(want[kind]) if want[kind] else 1.0,
            "precision": hits / len(got[kind]) if got[kind] else 1.0,
        }
    return scores


def failed_with_value(url: str, receipts: list[dict]) -> int:
    failed = [receipt for receipt in receipts if receipt["status"] == "0x0"]
    return sum(
        hex_int(rpc(url, "eth_getTransactionByHash", [receipt["transactionHash"]])["value"]) > 0
        for receipt in failed
    )


def write_results(results: dict) -> None:
    path = Path(RESULTS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
