"""A local Anvil chain filled fast with blocks of many transactions, for the ingest benchmarks.

Anvil runs with --no-mining: each block's transactions are sent as one batched JSON-RPC
request of eth_sendTransaction (explicit nonce and gas, so Anvil neither estimates nor
waits), then `anvil_mine` seals them into one block.

The senders are impersonated (`anvil_impersonateAccount`), not Anvil's keyed dev accounts: their
transactions carry no real signature. Anvil recovers the sender of every signed transaction again
each time it answers eth_getBlockByNumber with transactions (an ECDSA recovery per transaction per
read, which real nodes do once, when the transaction arrives), so on a signed chain the benchmark's
"limit" was Anvil's signature recovery, not what a node can serve.

Two block shapes:
- `fill_block`: 70% ERC-20 transfers of a hand-assembled token (one Transfer log each), the rest
  native transfers.
- `fill_mainnet_block`: mainnet-shaped, like bench/synthetic.py: each transaction calls a
  hand-assembled contract that emits three logs (two ERC-20 Transfers and an Approval: two thirds
  of the logs are transfers), 30% of them also carrying value (a native transfer); 200 a block
  make 600 logs and ~1,260 events.
"""

from __future__ import annotations

import json
from pathlib import Path

import requests

from blockhook.local import servers
from tests.support.contracts import TOKEN_RUNTIME, TRANSFER_TOPIC, assemble, transfer_calldata

TOKEN = "0x" + "70" * 20
MAINNET_SHAPED = "0x" + "71" * 20
APPROVAL_TOPIC = 0x8C5BE1E5EBEC7D5BD14F71427D1E84F3DD0314C0F7B2291E5B200AC8C7C3B925

# transfer(address to, uint256 amount)-shaped calldata; emits Transfer(caller, to, amount) twice, then
# Approval(caller, to, amount).
THREE_LOGS_RUNTIME: str = assemble(
    0x24, "CALLDATALOAD", 0, "MSTORE",                    # memory[0:32] = amount
    0x04, "CALLDATALOAD", (1 << 160) - 1, "AND",          # [to]
    "DUP1", "CALLER", TRANSFER_TOPIC, 0x20, 0, "LOG3",
    "DUP1", "CALLER", TRANSFER_TOPIC, 0x20, 0, "LOG3",
    "DUP1", "CALLER", APPROVAL_TOPIC, 0x20, 0, "LOG3",
    "STOP",
)  # fmt: skip

# Impersonated senders: no private keys anywhere; each one funded by anvil_setBalance.
SENDERS = [f"0x{0x5e00 + n:040x}" for n in range(50)]


class ChainFiller:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.nonces = {account: 0 for account in SENDERS}
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
        self.call("anvil_setCode", [MAINNET_SHAPED, THREE_LOGS_RUNTIME])
        calls = []
        for account in SENDERS:
            calls += [("anvil_impersonateAccount", [account]), ("anvil_setBalance", [account, hex(10**24)])]
        self.batch(calls)
        for account in SENDERS:
            self.nonces[account] = int(self.call("eth_getTransactionCount", [account, "pending"]), 16)

    def _transaction(self, n: int, **fields) -> tuple[str, list]:
        sender = SENDERS[n % len(SENDERS)]
        tx = {"from": sender, "nonce": hex(self.nonces[sender]), "gas": hex(60_000),
              "maxFeePerGas": hex(10**11), "maxPriorityFeePerGas": hex(1), **fields}
        self.nonces[sender] += 1
        return ("eth_sendTransaction", [tx])

    def fill_block(self, transactions: int, token_share: float = 0.7) -> None:
        calls = []
        tokens = round(transactions * token_share)
        for n in range(transactions):
            self.serial += 1
            recipient = "0x" + f"{self.serial:040x}"
            if n < tokens:
                calls.append(self._transaction(n, to=TOKEN, value="0x0", data=transfer_calldata(recipient, self.serial)))
            else:
                calls.append(self._transaction(n, to=recipient, value=hex(self.serial), data="0x"))
        self.batch(calls)
        self.call("anvil_mine", ["0x1"])

    def fill_mainnet_block(self, transactions: int = 200, native_share: float = 0.3) -> None:
        calls = []
        valued = round(transactions * native_share)
        for n in range(transactions):
            self.serial += 1
            recipient = "0x" + f"{self.serial:040x}"
            value = hex(self.serial) if n < valued else "0x0"
            calls.append(self._transaction(n, to=MAINNET_SHAPED, value=value,
                                           data=transfer_calldata(recipient, self.serial)))
        self.batch(calls)
        self.call("anvil_mine", ["0x1"])

    def head(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)


def start_anvil(log_dir: Path) -> servers.ServerProcess:
    node = servers.anvil(servers.free_port(), log_path=log_dir / "anvil.log")
    # --no-mining: blocks are sealed by anvil_mine only; a big gas limit keeps every sent tx in its block.
    node.argv += ["--no-mining", "--gas-limit", "300000000", "--order", "fifo"]
    return node.start()
