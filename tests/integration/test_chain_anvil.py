"""Read real blocks from Anvil with RpcChainReader and check every event against what was sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from eth_abi import encode

from blockhook.chain.events import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC, block_events
from blockhook.chain.reader import RpcChainReader
from blockhook.chain.rpc import JsonRpcClient
from blockhook.local.servers import anvil, free_port
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    LOG_EMITTER_RUNTIME,
    REVERTING_RUNTIME,
    TOKEN_RUNTIME,
    address_topic,
    creation_code,
    emit_log,
    place_contract,
    rpc,
    send_transaction,
    send_tx,
    token_transfer,
    transfer_calldata,
    uint_topic,
    wait_for_receipt,
)

pytestmark = pytest.mark.integration

CHAIN_ID = 31337
ALICE, BOB, CAROL, DAVE = ANVIL_ACCOUNTS[:4]
TOKEN = "0x" + "70" * 20
EMITTER = "0x" + "e1" * 20
BROKEN = "0x" + "fe" * 20


@pytest.fixture(scope="module")
def anvil_url():
    server = anvil(free_port()).start()
    try:
        place_contract(server.url, TOKEN, TOKEN_RUNTIME)
        place_contract(server.url, EMITTER, LOG_EMITTER_RUNTIME)
        place_contract(server.url, BROKEN, REVERTING_RUNTIME)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def reader(anvil_url):
    return RpcChainReader(JsonRpcClient([anvil_url], timeout=10))


@pytest.fixture(scope="module")
def sent(anvil_url):
    """One of everything, one transaction per block (automine); receipts by name."""
    receipts = {
        "eth": send_tx(anvil_url, ALICE, BOB, value=1_500_000_000_000_000_000),
        "create": send_tx(anvil_url, ALICE, None, value=7, data=creation_code(TOKEN_RUNTIME)),
        "erc20": token_transfer(anvil_url, TOKEN, BOB, CAROL, 10**24 + 3),
        "erc721": emit_log(
            anvil_url,
            EMITTER,
            CAROL,
            [TRANSFER_TOPIC, address_topic(CAROL), address_topic(DAVE), uint_topic(2**200)],
            "0x",
        ),
        "erc1155_single": emit_log(
            anvil_url,
            EMITTER,
            ALICE,
            [TRANSFER_SINGLE_TOPIC, address_topic(ALICE), address_topic(BOB), address_topic(CAROL)],
            "0x" + encode(["uint256", "uint256"], [42, 1000]).hex(),
        ),
        "erc1155_batch": emit_log(
            anvil_url,
            EMITTER,
            ALICE,
            [TRANSFER_BATCH_TOPIC, address_topic(ALICE), address_topic(BOB), address_topic(DAVE)],
            "0x" + encode(["uint256[]", "uint256[]"], [[1, 2, 3], [10, 20, 30]]).hex(),
        ),
        # Transfer topic with ERC-20 topics but 31 bytes of data: not ERC-20, only a log
        "malformed": emit_log(
            anvil_url,
            EMITTER,
            DAVE,
            [TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)],
            "0x" + "ab" * 31,
        ),
        "reverted": send_tx(anvil_url, DAVE, BROKEN, data="0xdeadbeef00", gas=100_000),
    }
    assert [r["status"] for r in receipts.values()] == ["0x1"] * 7 + ["0x0"]
    return receipts


def events_of(reader, receipt: dict) -> tuple[list[dict], dict]:
    number = int(receipt["blockNumber"], 16)
    [block] = reader.blocks(number, number)
    return block_events(CHAIN_ID, block), receipt


def common(receipt: dict, anvil_url: str, log_index: int | None) -> dict:
    block = rpc(anvil_url, "eth_getBlockByNumber", [receipt["blockNumber"], False])
    return {
        "chain_id": CHAIN_ID,
        "block_number": int(receipt["blockNumber"], 16),
        "block_hash": receipt["blockHash"],
        "block_timestamp": int(block["timestamp"], 16),
        "tx_hash": receipt["transactionHash"],
        "tx_index": int(receipt["transactionIndex"], 16),
        "log_index": log_index,
    }


def event_id(receipt: dict, where: str, kind: str) -> str:
    return f"{CHAIN_ID}:{receipt['blockHash']}:{int(receipt['transactionIndex'], 16)}:{where}:{kind}"


def test_anvil_accounts_are_the_known_ones(anvil_url):
    assert rpc(anvil_url, "eth_accounts", []) == ANVIL_ACCOUNTS


def test_reader_basics(anvil_url, reader, sent):
    assert reader.chain_id() == CHAIN_ID
    head = reader.head()
    assert head == int(rpc(anvil_url, "eth_blockNumber", []), 16) >= int(sent["reverted"]["blockNumber"], 16)
    assert reader.block_hash(int(sent["reverted"]["blockNumber"], 16)) == sent["reverted"]["blockHash"]
    assert reader.block_hash(head) == rpc(anvil_url, "eth_getBlockByNumber", ["latest", False])["hash"]
    assert reader.block_hash(head + 1) is None
    blocks = reader.blocks(head - 2, head + 5)
    assert [b.number for b in blocks] == [head - 2, head - 1, head]
    assert blocks[-1].parent_hash == blocks[-2].hash


def test_eth_transfer(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["eth"])
    assert events == [
        {
            "id": event_id(receipt, "tx", "transaction"),
            "kind": "transaction",
            **common(receipt, anvil_url, None),
            "from": ALICE,
            "to": BOB,
            "value": "1500000000000000000",
            "selector": None,
            "status": 1,
            "gas_used": 21000,
            "contract_address": None,
            "type": 2,
        },
        {
            "id": event_id(receipt, "tx", "native_transfer"),
            "kind": "native_transfer",
            **common(receipt, anvil_url, None),
            "from": ALICE,
            "to": BOB,
            "value": "1500000000000000000",
        },
    ]
    json.dumps(events)


def test_contract_creation(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["create"])
    created = receipt["contractAddress"]
    assert rpc(anvil_url, "eth_getCode", [created, "latest"]) == TOKEN_RUNTIME
    transaction, transfer = events
    assert transaction == {
        "id": event_id(receipt, "tx", "transaction"),
        "kind": "transaction",
        **common(receipt, anvil_url, None),
        "from": ALICE,
        "to": None,
        "value": "7",
        "selector": creation_code(TOKEN_RUNTIME)[:10],
        "status": 1,
        "gas_used": int(receipt["gasUsed"], 16),
        "contract_address": created,
        "type": 2,
    }
    assert (transfer["kind"], transfer["to"], transfer["value"]) == ("native_transfer", created, "7")

    # the contract it created works: its Transfer shows the new address as token
    transferred = token_transfer(anvil_url, created, ALICE, BOB, 9)
    later, _ = events_of(reader, transferred)
    assert [(e["kind"], e.get("token"), e.get("value")) for e in later] == [
        ("transaction", None, "0"),
        ("erc20_transfer", created, "9"),
        ("log", None, None),
    ]


def test_token_transfer(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["erc20"])
    transaction, erc20, log = events
    assert (
        transaction["selector"] == "0xa9059cbb" and transaction["to"] == TOKEN and transaction["status"] == 1
    )
    assert erc20 == {
        "id": event_id(receipt, "0", "erc20_transfer"),
        "kind": "erc20_transfer",
        **common(receipt, anvil_url, 0),
        "token": TOKEN,
        "from": BOB,
        "to": CAROL,
        "value": str(10**24 + 3),
    }
    assert log == {
        "id": event_id(receipt, "0", "log"),
        "kind": "log",
        **common(receipt, anvil_url, 0),
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, address_topic(BOB), address_topic(CAROL)],
        "data": "0x" + (10**24 + 3).to_bytes(32, "big").hex(),
    }


def test_erc721_transfer(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["erc721"])
    assert [e["kind"] for e in events] == ["transaction", "erc721_transfer", "log"]
    assert events[1] == {
        "id": event_id(receipt, "0", "erc721_transfer"),
        "kind": "erc721_transfer",
        **common(receipt, anvil_url, 0),
        "token": EMITTER,
        "from": CAROL,
        "to": DAVE,
        "token_id": str(2**200),
    }
    assert events[2]["data"] == "0x" and len(events[2]["topics"]) == 4


def test_erc1155_single(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["erc1155_single"])
    assert [e["kind"] for e in events] == ["transaction", "erc1155_transfer", "log"]
    assert events[1] == {
        "id": event_id(receipt, "0", "erc1155_transfer"),
        "kind": "erc1155_transfer",
        **common(receipt, anvil_url, 0),
        "token": EMITTER,
        "operator": ALICE,
        "from": BOB,
        "to": CAROL,
        "token_id": "42",
        "value": "1000",
    }


def test_erc1155_batch(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["erc1155_batch"])
    assert [e["kind"] for e in events] == ["transaction"] + ["erc1155_transfer"] * 3 + ["log"]
    assert events[1:4] == [
        {
            "id": event_id(receipt, "0", f"erc1155_transfer:{n}"),
            "kind": "erc1155_transfer",
            **common(receipt, anvil_url, 0),
            "token": EMITTER,
            "operator": ALICE,
            "from": BOB,
            "to": DAVE,
            "token_id": str(token_id),
            "value": str(value),
        }
        for n, (token_id, value) in enumerate([(1, 10), (2, 20), (3, 30)])
    ]


def test_malformed_log_is_only_a_log(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["malformed"])
    assert [e["kind"] for e in events] == ["transaction", "log"]
    assert events[1]["data"] == "0x" + "ab" * 31
    assert events[1]["topics"] == [TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)]


def test_reverted_transaction(anvil_url, reader, sent):
    events, receipt = events_of(reader, sent["reverted"])
    [transaction] = events
    assert transaction == {
        "id": event_id(receipt, "tx", "transaction"),
        "kind": "transaction",
        **common(receipt, anvil_url, None),
        "from": DAVE,
        "to": BROKEN,
        "value": "0",
        "selector": "0xdeadbeef",
        "status": 0,
        "gas_used": 100_000,  # INVALID burns all the gas given
        "contract_address": None,
        "type": 2,
    }


def test_several_transactions_in_one_block(anvil_url, reader):
    """Manual mining: tx_index and log_index run across the block and events come in their order."""
    rpc(anvil_url, "evm_setAutomine", [False])
    try:
        hashes = [
            send_transaction(anvil_url, ALICE, DAVE, value=1),
            send_transaction(anvil_url, BOB, TOKEN, data=transfer_calldata(CAROL, 5)),
            send_transaction(anvil_url, CAROL, TOKEN, data=transfer_calldata(DAVE, 6)),
            send_transaction(anvil_url, DAVE, BOB, value=0),
        ]
        rpc(anvil_url, "evm_mine", [])
    finally:
        rpc(anvil_url, "evm_setAutomine", [True])
    receipts = [wait_for_receipt(anvil_url, h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1

    number = int(receipts[0]["blockNumber"], 16)
    [block] = reader.blocks(number, number)
    events = block_events(CHAIN_ID, block)

    by_index = sorted(receipts, key=lambda r: int(r["transactionIndex"], 16))
    expected = []
    for receipt in by_index:
        tx_index = int(receipt["transactionIndex"], 16)
        expected.append((tx_index, None, "transaction"))
        if receipt["to"] == DAVE and receipt["from"] == ALICE:
            expected.append((tx_index, None, "native_transfer"))
        for log in receipt["logs"]:
            expected += [
                (tx_index, int(log["logIndex"], 16), "erc20_transfer"),
                (tx_index, int(log["logIndex"], 16), "log"),
            ]
    assert [(e["tx_index"], e["log_index"], e["kind"]) for e in events] == expected
    assert sorted(e["log_index"] for e in events if e["kind"] == "log") == [0, 1]
    assert [e["tx_hash"] for e in events if e["kind"] == "transaction"] == [
        r["transactionHash"] for r in by_index
    ]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert block_events(CHAIN_ID, reader.blocks(number, number)[0]) == events  # stable ids


class NoBlockReceiptsProxy:
    """Forwards JSON-RPC to Anvil but answers eth_getBlockReceipts with -32601, like an older node."""

    def __init__(self, upstream: str):
        self.methods: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = request if isinstance(request, list) else [request]
                proxy.methods += [c["method"] for c in calls]
                forward = [c for c in calls if c["method"] != "eth_getBlockReceipts"]
                answers = requests.post(upstream, json=forward, timeout=10).json() if forward else []
                answers += [
                    {
                        "jsonrpc": "2.0",
                        "id": c["id"],
                        "error": {"code": -32601, "message": "Method not found"},
                    }
                    for c in calls
                    if c["method"] == "eth_getBlockReceipts"
                ]
                body = json.dumps(answers if isinstance(request, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_fallback_to_transaction_receipts(anvil_url, reader, sent):
    proxy = NoBlockReceiptsProxy(anvil_url)
    try:
        old_node = RpcChainReader(JsonRpcClient([proxy.url]))
        first, last = int(sent["eth"]["blockNumber"], 16), int(sent["reverted"]["blockNumber"], 16)

        via_proxy = old_node.blocks(first, last)
        assert proxy.methods.count("eth_getBlockReceipts") == last - first + 1
        proxy.methods.clear()
        again = old_node.blocks(first, first + 1)
    finally:
        proxy.stop()

    direct = reader.blocks(first, last)
    assert via_proxy == direct
    assert again == direct[:2]
    assert "eth_getBlockReceipts" not in proxy.methods  # the fallback is remembered
    assert proxy.methods.count("eth_getTransactionReceipt") == len(direct[0].transactions) + len(
        direct[1].transactions
    )
    assert [block_events(CHAIN_ID, b) for b in via_proxy] == [block_events(CHAIN_ID, b) for b in direct]
