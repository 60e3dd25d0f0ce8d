"""Synthetic blocks shaped like Ethereum mainnet, as block_events makes them (CONTRACT section 3).

Per block: 200 transactions (a `transaction` event each, 30% also a `native_transfer`) and
600 logs (3 per transaction), 70% of them ERC-20 transfers (an `erc20_transfer` event plus
the `log`), the rest other logs: about 1,280 events a block. Every party is a fresh random
address unless the caller plants a watched one.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from blockhook.matching.matcher import TRANSFER_TOPIC

OTHER_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"  # Approval


def random_address(rng: random.Random) -> str:
    return "0x" + rng.getrandbits(160).to_bytes(20, "big").hex()


def random_hash(rng: random.Random) -> str:
    return "0x" + rng.getrandbits(256).to_bytes(32, "big").hex()


def make_block(
    rng: random.Random,
    chain_id: int,
    number: int,
    planted: Callable[[], str | None] = lambda: None,
    transactions: int = 200,
    logs_per_tx: int = 3,
    erc20_share: float = 0.7,
    native_share: float = 0.3,
    tokens: list[str] | None = None,
) -> tuple[dict, list[dict]]:
    """(header fields, events). `planted()` is asked once per ERC-20 transfer: an address to use
    as its recipient (a watched one), or None for a random one."""
    block_hash = random_hash(rng)
    header = {"number": number, "hash": block_hash, "parent_hash": random_hash(rng), "timestamp": 1_730_000_000 + number}
    tokens = tokens or [random_address(rng) for _ in range(50)]
    events: list[dict] = []
    log_index = 0
    prefix = f"{chain_id}:{block_hash}:"
    for tx_index in range(transactions):
        common = {"chain_id": chain_id, "block_number": number, "block_hash": block_hash,
                  "block_timestamp": header["timestamp"], "tx_hash": random_hash(rng), "tx_index": tx_index}
        sender, to = random_address(rng), random_address(rng)
        value = rng.getrandbits(64) if rng.random() < native_share else 0
        events.append({"id": f"{prefix}{tx_index}:tx:transaction", "kind": "transaction", **common,
                       "log_index": None, "from": sender, "to": to, "value": str(value),
                       "selector": "0xa9059cbb", "status": 1, "gas_used": 52_000, "contract_address": None})
        if value:
            events.append({"id": f"{prefix}{tx_index}:tx:native_transfer", "kind": "native_transfer", **common,
                           "log_index": None, "from": sender, "to": to, "value": str(value)})
        for _ in range(logs_per_tx):
            log_common = {**common, "log_index": log_index}
            token = rng.choice(tokens)
            log_id = f"{prefix}{tx_index}:{log_index}:"
            amount = rng.getrandbits(80)
            if rng.random() < erc20_share:
                recipient = planted() or random_address(rng)
                source = random_address(rng)
                events.append({"id": log_id + "erc20_transfer", "kind": "erc20_transfer", **log_common,
                               "token": token, "from": source, "to": recipient, "value": str(amount)})
                topics = [TRANSFER_TOPIC, "0x" + "0" * 24 + source[2:], "0x" + "0" * 24 + recipient[2:]]
            else:
                topics = [OTHER_TOPIC, "0x" + "0" * 24 + sender[2:], "0x" + "0" * 24 + to[2:]]
            events.append({"id": log_id + "log", "kind": "log", **log_common, "address": token,
                           "topics": topics, "data": "0x" + amount.to_bytes(32, "big").hex()})
            log_index += 1
    return header, events
