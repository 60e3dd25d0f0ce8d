"""A randomized run against the whole local stack, scored against an independent reading of the chain.

Hundreds of mixed transactions (ETH and token transfers, creations, reverts, arbitrary logs) among
dozens of accounts, packed into blocks of random size, are watched by monitors with different
filters. The expected (monitor, event id) set is computed here from raw JSON-RPC and CONTRACT
section 3's rules, without blockhook's chain or matching code; recall and precision of what the
webhooks received must both be exactly 1.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from blockhook.local.servers import REPO_ROOT
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    LOG_EMITTER_RUNTIME,
    TOKEN_RUNTIME,
    address_topic,
    creation_code,
    emitter_calldata,
    place_contract,
    rpc,
    send_transaction,
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
TRANSFER_SIGNATURE = "Transfer(address indexed from, address indexed to, uint256 value)"
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
APPROVAL_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()
MAX_UINT = 2**256 - 1


# ---------------------------------------------------------------------------------------------
# The monitors, as data: the API body and the same filters in the shape the reference uses.


@dataclass
class MonitorSpec:
    key: str
    kinds: list[str]
    addresses: dict[str, str | None] = field(default_factory=dict)  # lowercase address -> label
    contracts: list[str] = field(default_factory=list)
    event_signatures: list[str] = field(default_factory=list)
    topics: frozenset[str] = frozenset()  # topic 0 of each signature

    def body(self, webhook_url: str, rng: random.Random) -> dict:
        def spelled(address: str) -> str:
            # Any case is accepted (CONTRACT section 2): send some checksummed, some lowercase.
            return to_checksum_address(address) if rng.random() < 0.5 else address

        addresses: list[Any] = [
            {"address": spelled(address), "label": label} if label is not None else spelled(address)
            for address, label in self.addresses.items()
        ]
        filters: dict[str, Any] = {"kinds": self.kinds, "contracts": self.contracts}
        if addresses:  # without them the monitor watches every party
            filters["addresses"] = addresses
        if self.event_signatures:
            filters["event_signatures"] = self.event_signatures
        return {"name": f"randomized {self.key}", "chain_ids": [CHAIN_ID], "webhook_url": webhook_url,
                "filters": filters, "confirmations": 0}  # fmt: skip


@dataclass
class World:
    recipients: list[str]  # generated from the seed
    senders: list[str]  # the funded Anvil accounts and a few impersonated recipients
    monitors: list[MonitorSpec]

    @property
    def accounts(self) -> list[str]:
        return sorted(set(self.recipients) | set(self.senders))


def build_world(rng: random.Random) -> World:
    recipients = [f"0x{rng.getrandbits(160):040x}" for _ in range(40)]
    impersonated = recipients[:5]
    senders = [*ANVIL_ACCOUNTS, *impersonated]
    watched = [*rng.sample(recipients, 7), ANVIL_ACCOUNTS[1], ANVIL_ACCOUNTS[2], TOKENS[2]]
    unlabelled = set(rng.sample(watched, 2))  # labels are absent for these (CONTRACT section 4)
    deposits = {
        address: None if address in unlabelled else f"customer-{n}" for n, address in enumerate(watched)
    }
    tx_watch = {ANVIL_ACCOUNTS[0]: "treasury", ANVIL_ACCOUNTS[3]: None, impersonated[0]: "hot-wallet"}
    return World(
        recipients=recipients,
        senders=senders,
        monitors=[
            MonitorSpec("a_deposits", ["native_transfer", "erc20_transfer"], addresses=deposits),
            MonitorSpec("b_token1_all", ["erc20_transfer"], contracts=[TOKENS[0]]),
            MonitorSpec("c_sender_txs", ["transaction"], addresses=tx_watch),
            MonitorSpec(
                "d_transfer_logs",
                ["log"],
                addresses={TOKENS[1]: "token-two", EMITTER: None},
                event_signatures=[TRANSFER_SIGNATURE],
                topics=frozenset({TRANSFER_TOPIC}),
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Traffic: random transactions, packed into blocks by turning automine off.


def random_call(rng: random.Random, world: World) -> dict:
    """One random transaction, as eth_sendTransaction parameters."""
    sender = rng.choice(world.senders)
    to = rng.choice(world.accounts)
    if rng.random() < 0.03:
        to = sender  # to oneself: one party, matched once
    roll = rng.random()
    if roll < 0.35:  # ETH transfer, sometimes of nothing (a transaction, no native_transfer)
        value = 0 if rng.random() < 0.1 else rng.randrange(1, 10**19)
        return {"from": sender, "to": to, "value": value}
    if roll < 0.80:  # token transfer, sometimes of 0 or of a huge amount, sometimes paying ETH too
        amount = rng.choice([0, MAX_UINT, rng.randrange(1, 10**24), rng.randrange(1, 10**6)])
        value = rng.randrange(1, 10**15) if rng.random() < 0.08 else 0
        return {
            "from": sender,
            "to": rng.choice(TOKENS),
            "value": value,
            "data": transfer_calldata(to, amount),
        }
    if roll < 0.92:  # an arbitrary log from the emitter: Transfer-like or not
        return {"from": sender, "to": EMITTER, "value": 0, "data": random_log(rng, world)}
    if roll < 0.96:  # a reverted call: a transaction with status 0 and no logs
        return {"from": sender, "to": rng.choice(TOKENS), "value": 0, "data": "0xdeadbeef", "gas": 60_000}
    return {"from": sender, "to": None, "value": rng.choice([0, 12345]), "data": creation_code(TOKEN_RUNTIME)}


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
    return send_transaction(
        url, call["from"], call["to"], call["value"], call.get("data", "0x"), call.get("gas")
    )


def mine_batch(url: str, calls: list[dict]) -> list[dict]:
    """Send the calls with automine off, mine until all are in; return their receipts."""
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
# The reference: events of CONTRACT section 3 and DESIGN "Ids", read with raw JSON-RPC.


def hex_int(value: str) -> int:
    return int(value, 16)


def topic_address(topic: str) -> str | None:
    body = topic.lower().removeprefix("0x")
    return "0x" + body[24:] if len(body) == 64 and body[:24] == "0" * 24 else None


def reference_events(url: str, first: int, last: int) -> tuple[list[dict], dict[int, dict]]:
    """Every event of blocks first..last of kinds transaction, native_transfer, erc20_transfer and log
    (the kinds our monitors use), each with `_parties`, `_emitter` and `_topic0` for matching."""
    events: list[dict] = []
    blocks: dict[int, dict] = {}
    for number in range(first, last + 1):
        block = rpc(url, "eth_getBlockByNumber", [hex(number), True])
        blocks[number] = block
        block_hash = block["hash"].lower()
        for tx in block["transactions"]:
            receipt = rpc(url, "eth_getTransactionReceipt", [tx["hash"]])
            tx_index = hex_int(tx["transactionIndex"])
            common = {"chain_id": CHAIN_ID, "block_number": number, "block_hash": block_hash,
                      "block_timestamp": hex_int(block["timestamp"]), "tx_hash": tx["hash"].lower(),
                      "tx_index": tx_index}  # fmt: skip
            prefix = f"{CHAIN_ID}:{block_hash}:{tx_index}:"
            sender = tx["from"].lower()
            to = tx["to"].lower() if tx.get("to") else None
            created = receipt["contractAddress"].lower() if receipt.get("contractAddress") else None
            value = hex_int(tx["value"])
            data = tx.get("input") or tx.get("data") or "0x"
            events.append({
                **common, "id": prefix + "tx:transaction", "kind": "transaction", "log_index": None,
                "from": sender, "to": to, "value": str(value), "status": hex_int(receipt["status"]),
                "selector": data[:10].lower() if len(data) >= 10 else None, "contract_address": created,
                "_parties": [sender, to, created], "_emitter": None, "_topic0": None,
            })  # fmt: skip
            if value > 0:
                events.append({
                    **common, "id": prefix + "tx:native_transfer", "kind": "native_transfer", "log_index": None,
                    "from": sender, "to": to or created, "value": str(value),
                    "_parties": [sender, to or created], "_emitter": None, "_topic0": None,
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
    return events, blocks


def reference_matches(spec: MonitorSpec, event: dict) -> list[str] | None:
    """CONTRACT section 3: None when the monitor does not match, else the watched parties it matched on."""
    if event["kind"] not in spec.kinds:
        return None
    parties = list(dict.fromkeys(party for party in event["_parties"] if party))
    matched = [party for party in parties if party in spec.addresses]
    if spec.addresses and not matched:
        return None
    if spec.contracts and event["_emitter"] not in spec.contracts:
        return None
    if spec.topics and event["_topic0"] not in spec.topics:
        return None
    return matched


def public(event: dict) -> dict:
    return {key: value for key, value in event.items() if not key.startswith("_")}


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("randomized-stack")) as local:
        yield local


def test_randomized_traffic_is_delivered_exactly(stack, record_property):
    rng = random.Random(SEED)
    url = stack.rpc
    world = build_world(rng)
    for token in TOKENS:
        place_contract(url, token, TOKEN_RUNTIME)
    place_contract(url, EMITTER, LOG_EMITTER_RUNTIME)
    for sender in world.senders[len(ANVIL_ACCOUNTS) :]:
        rpc(url, "anvil_setBalance", [sender, hex(10**24)])
        rpc(url, "anvil_impersonateAccount", [sender])

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
        deposit_watch = next(iter(world.monitors[0].addresses))
        marker = send_tx(url, ANVIL_ACCOUNTS[9], deposit_watch, value=4242)  # automine is back on
        last = hex_int(marker["blockNumber"])
        receivers["a_deposits"].wait_for(
            lambda seen: any(
                e["tx_hash"] == marker["transactionHash"] for r in seen for e in r.json()["events"]
            ),
            timeout=60,
        )
        stack.wait_processed(CHAIN_ID, last)

        events, blocks = reference_events(url, start + 1, last)
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

    hits = len(expected.keys() & received.keys())
    recall = hits / len(expected) if expected else 1.0
    precision = hits / len(received) if received else 1.0
    key_of = {created[spec.key]["id"]: spec.key for spec in world.monitors}
    missing = sorted(expected.keys() - received.keys())
    extra = sorted(received.keys() - expected.keys())
    results = {
        "seed": SEED,
        "transactions": len(receipts) + 1,
        "failed_transactions": sum(receipt["status"] == "0x0" for receipt in receipts),
        "blocks": blocks_mined + 1,
        "events_on_chain": len(events),
        "expected_matches": len(expected),
        "received_matches": len(received),
        "matched": hits,
        "recall": recall,
        "precision": precision,
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
        record_property(name, value)

    assert marker["status"] == "0x1"
    assert results["blocks_split_over_deliveries"] >= 1, "the burst block's matches must need two deliveries"
    assert wanted.keys() == set(key_of), "every monitor must have something to match, or it tests nothing"
    assert not missing, (
        f"recall {recall:.4f}: {len(missing)} expected events never arrived, e.g. {missing[:5]}"
    )
    assert not extra, f"precision {precision:.4f}: {len(extra)} events arrived unexpected, e.g. {extra[:5]}"
    assert recall == 1.0 and precision == 1.0
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
    order = [
        (event["tx_index"], -1 if event["log_index"] is None else event["log_index"]) for event in events
    ]
    if order != sorted(order):
        problems.append(f"{name}: events not in (tx_index, log_index) order: {order}")
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
    if spec.addresses:
        got = event["matched_addresses"]
        if sorted(got) != sorted(matched) or len(set(got)) != len(got):
            problems.append(f"{name}: matched_addresses {got}, want {matched}")
        labels = {
            address: spec.addresses[address] for address in matched if spec.addresses[address] is not None
        }
        if event.get("labels", {}) != labels or ("labels" in event and not labels):
            problems.append(f"{name}: labels {event.get('labels')}, want {labels or 'absent'}")
    elif not set(event["matched_addresses"]) <= set(want["_parties"]):
        problems.append(
            f"{name}: matched_addresses {event['matched_addresses']} are not parties of the event"
        )
    return problems


def write_results(results: dict) -> None:
    path = Path(RESULTS_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
