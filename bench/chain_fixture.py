"""A local Anvil chain filled fast with blocks of many transactions, for the ingest benchmarks.

Anvil runs with --no-mining: each block's transactions are sent as one batched JSON-RPC
request of eth_sendTransaction (explicit nonce and gas, so Anvil neither estimates nor
waits), then `anvil_mine` seals them into one block. 70% of the transactions are ERC-20
transfers of a hand-assembled token (one Transfer log each), the rest native transfers.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests

from blockhook.local import servers
from tests.support.contracts import ANVIL_ACCOUNTS, TOKEN_RUNTIME, transfer_calldata

TOKEN = "0x" + "70" * 20


class ChainFiller:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.nonces = {account: 0 for account in ANVIL_ACCOUNTS}
        self.serial = 0

    def call(self, method: str, params: list):
        answer = self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        body = answer.json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def batch(self, calls: list[tuple[str, list]]) -> list:
        payload = [{"jsonrpc": "2.0", "id": n, "method": m, "params": p} for n, (m, p) in enumerate(calls)]
        answers = self.session.post(self.url, data=json.dumps(payload), headers={"Content-Type": "application/json"})
        body = answers.json()
        errors = [entry["error"] for entry in body if "error" in entry]
        if errors:
            raise RuntimeError(f"{len(errors)} of {len(calls)} calls failed: {errors[0]}")
        return [entry["result"] for entry in sorted(body, key=lambda entry: entry["id"])]

    def setup(self) -> None:
        self.call("anvil_setCode", [TOKEN, TOKEN_RUNTIME])
        for account in ANVIL_ACCOUNTS:
            self.nonces[account] = int(self.call("eth_getTransactionCount", [account, "pending"]), 16)

    def fill_block(self, transactions: int, token_share: float = 0.7) -> None:
        calls = []
        tokens = round(transactions * token_share)
        for n in range(transactions):
            sender = ANVIL_ACCOUNTS[n % len(ANVIL_ACCOUNTS)]
            self.serial += 1
            recipient = "0x" + f"{self.serial:040x}"
            tx = {"from": sender, "nonce": hex(self.nonces[sender]), "gas": hex(60_000),
                  "maxFeePerGas": hex(10**11), "maxPriorityFeePerGas": hex(1)}
            if n < tokens:
                tx.update(to=TOKEN, value="0x0", data=transfer_calldata(recipient, self.serial))
            else:
                tx.update(to=recipient, value=hex(self.serial), data="0x")
            self.nonces[sender] += 1
            calls.append(("eth_sendTransaction", [tx]))
        self.batch(calls)
        self.call("anvil_mine", ["0x1"])

    def head(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)


def start_anvil(log_dir: Path) -> servers.ServerProcess:
    node = servers.anvil(servers.free_port(), log_path=log_dir / "anvil.log")
    # --no-mining: blocks are sealed by anvil_mine only; a big gas limit keeps every sent tx in its block.
    node.argv += ["--no-mining", "--gas-limit", "300000000", "--order", "fifo"]
    return node.start()
