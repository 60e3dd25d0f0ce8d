"""block_events on hand-built blocks: every kind, ids, order, and malformed input."""

from __future__ import annotations

import copy
import json

import pytest
from eth_abi import encode
from eth_utils import keccak

from blockhook.chain.events import (
    TRANSFER_BATCH_TOPIC,
    TRANSFER_SINGLE_TOPIC,
    TRANSFER_TOPIC,
    MalformedBlockError,
    block_events,
)
from blockhook.chain.reader import RawBlock

CHAIN = 31337
BLOCK_HASH = "0x" + "ab" * 32
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "c4" * 20
TOKEN = "0x" + "70" * 20
OTHER_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()


def topic_of(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def word(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def tx_hash(index: int) -> str:
    return "0x" + f"{index + 1:064x}"


def make_tx(
    index: int, *, to: str | None = BOB, value: int = 0, data: str = "0x", sender: str = ALICE
) -> dict:
    return {
        "hash": tx_hash(index),
        "transactionIndex": hex(index),
        "from": sender,
        "to": to,
        "value": hex(value),
        "input": data,
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x2a",
        "nonce": hex(index),
        "gas": "0x5208",
        "type": "0x2",
    }


def make_log(log_index: int, topics: list[str], data: str = "0x", address: str = TOKEN) -> dict:
    return {"address": address, "topics": topics, "data": data, "logIndex": hex(log_index), "removed": False}


def make_receipt(index: int, *, logs: list[dict] | None = None, status: int = 1, gas_used: int = 21000,
                 contract_address: str | None = None) -> dict:  # fmt: skip
    return {
        "transactionHash": tx_hash(index),
        "transactionIndex": hex(index),
        "blockHash": BLOCK_HASH,
        "status": hex(status),
        "gasUsed": hex(gas_used),
        "contractAddress": contract_address,
        "logs": logs or [],
    }


def make_block(transactions: list[dict], receipts: list[dict]) -> RawBlock:
    return RawBlock(
        number=42,
        hash=BLOCK_HASH,
        parent_hash="0x" + "cd" * 32,
        timestamp=1_700_000_000,
        transactions=transactions,
        receipts=receipts,
    )


def one_log_block(log: dict) -> RawBlock:
    return make_block([make_tx(0, to=TOKEN)], [make_receipt(0, logs=[log])])


def kinds(events: list[dict]) -> list[str]:
    return [event["kind"] for event in events]


COMMON = {"chain_id": CHAIN, "block_number": 42, "block_hash": BLOCK_HASH, "block_timestamp": 1_700_000_000}


def test_transaction_with_value_gives_transaction_and_native_transfer():
    block = make_block(
        [make_tx(0, value=10**18, data="0xA9059CBB" + "00" * 64)], [make_receipt(0, gas_used=50_000)]
    )

    events = block_events(CHAIN, block)

    assert events == [
        {
            "id": f"{CHAIN}:{BLOCK_HASH}:0:tx:transaction",
            "kind": "transaction",
            **COMMON,
            "tx_hash": tx_hash(0),
            "tx_index": 0,
            "log_index": None,
            "from": ALICE,
            "to": BOB,
            "value": "1000000000000000000",
            "selector": "0xa9059cbb",
            "status": 1,
            "gas_used": 50_000,
            "contract_address": None,
            "type": 2,
        },
        {
            "id": f"{CHAIN}:{BLOCK_HASH}:0:tx:native_transfer",
            "kind": "native_transfer",
            **COMMON,
            "tx_hash": tx_hash(0),
            "tx_index": 0,
            "log_index": None,
            "from": ALICE,
            "to": BOB,
            "value": "1000000000000000000",
        },
    ]
    json.dumps(events)  # JSON-ready as is


def test_zero_value_transaction_has_no_native_transfer_and_short_input_no_selector():
    for data in ("0x", "0x123456"):
        events = block_events(CHAIN, make_block([make_tx(0, data=data)], [make_receipt(0)]))
        assert kinds(events) == ["transaction"]
        assert events[0]["selector"] is None
        assert events[0]["value"] == "0"


def test_contract_creation_has_null_to_and_contract_address():
    created = "0x" + "de" * 20
    block = make_block(
        [make_tx(0, to=None, value=5, data="0x6080604052")],
        [make_receipt(0, status=1, contract_address=created.upper().replace("0X", "0x"))],
    )
    transaction, transfer = block_events(CHAIN, block)
    assert transaction["to"] is None
    assert transaction["contract_address"] == created
    assert transaction["selector"] == "0x60806040"
    assert transfer["kind"] == "native_transfer"
    assert transfer["to"] == created  # value sent with a creation lands in the new contract


def test_failed_transaction_has_status_zero():
    events = block_events(CHAIN, make_block([make_tx(0)], [make_receipt(0, status=0)]))
    assert events[0]["status"] == 0


def test_pre_byzantium_receipt_with_root_has_no_status_and_its_value_moved():
    receipt = make_receipt(0)
    del receipt["status"]
    receipt["root"] = "0x" + "11" * 32
    events = block_events(CHAIN, make_block([make_tx(0, value=5)], [receipt]))
    assert events[0]["status"] is None
    assert kinds(events) == ["transaction", "native_transfer"]


def test_failed_transaction_with_value_moves_nothing():
    # ether sent to a contract that refused it, a failed swap, a reverted creation
    block = make_block(
        [make_tx(0, value=10**18), make_tx(1, to=None, value=7), make_tx(2, value=3)],
        [make_receipt(0, status=0), make_receipt(1, status=0, contract_address=CAROL), make_receipt(2)],
    )
    events = block_events(CHAIN, block)
    assert [(e["kind"], e["tx_index"]) for e in events] == [
        ("transaction", 0), ("transaction", 1), ("transaction", 2), ("native_transfer", 2)
    ]
    assert [e["status"] for e in events if e["kind"] == "transaction"] == [0, 0, 1]


def test_transaction_type_is_read_and_legacy_when_the_node_sends_none():
    legacy = make_tx(0)
    del legacy["type"]
    block = make_block([legacy, {**make_tx(1), "type": "0x1"}, {**make_tx(2), "type": "0x4"}],
                       [make_receipt(0), make_receipt(1), make_receipt(2)])  # fmt: skip
    assert [e["type"] for e in block_events(CHAIN, block)] == [0, 1, 4]


def test_erc20_transfer_then_its_log():
    log = make_log(3, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(12345))
    events = block_events(CHAIN, one_log_block(log))

    assert kinds(events) == ["transaction", "erc20_transfer", "log"]
    transfer, plain = events[1], events[2]
    assert transfer == {
        "id": f"{CHAIN}:{BLOCK_HASH}:0:3:erc20_transfer",
        "kind": "erc20_transfer",
        **COMMON,
        "tx_hash": tx_hash(0),
        "tx_index": 0,
        "log_index": 3,
        "token": TOKEN,
        "from": ALICE,
        "to": BOB,
        "value": "12345",
    }
    assert plain == {
        "id": f"{CHAIN}:{BLOCK_HASH}:0:3:log",
        "kind": "log",
        **COMMON,
        "tx_hash": tx_hash(0),
        "tx_index": 0,
        "log_index": 3,
        "address": TOKEN,
        "topics": [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)],
        "data": "0x" + word(12345),
    }
    assert "args" not in plain


def test_erc721_transfer_token_id_from_topic_3():
    token_id = 2**255 + 7
    log = make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB), "0x" + word(token_id)])
    events = block_events(CHAIN, one_log_block(log))
    assert kinds(events) == ["transaction", "erc721_transfer", "log"]
    nft = events[1]
    assert nft["id"] == f"{CHAIN}:{BLOCK_HASH}:0:0:erc721_transfer"
    assert (nft["token"], nft["from"], nft["to"], nft["token_id"]) == (TOKEN, ALICE, BOB, str(token_id))
    assert "value" not in nft


def test_erc1155_transfer_single():
    log = make_log(
        1, [TRANSFER_SINGLE_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], "0x" + word(77) + word(5)
    )
    events = block_events(CHAIN, one_log_block(log))
    assert kinds(events) == ["transaction", "erc1155_transfer", "log"]
    single = events[1]
    assert single["id"] == f"{CHAIN}:{BLOCK_HASH}:0:1:erc1155_transfer"
    assert {k: single[k] for k in ("token", "operator", "from", "to", "token_id", "value", "log_index")} == {
        "token": TOKEN,
        "operator": CAROL,
        "from": ALICE,
        "to": BOB,
        "token_id": "77",
        "value": "5",
        "log_index": 1,
    }


def test_erc1155_transfer_batch_one_event_per_id():
    data = "0x" + encode(["uint256[]", "uint256[]"], [[1, 2, 2**256 - 1], [10, 20, 30]]).hex()
    log = make_log(4, [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], data)
    events = block_events(CHAIN, one_log_block(log))

    assert kinds(events) == ["transaction", "erc1155_transfer", "erc1155_transfer", "erc1155_transfer", "log"]
    batch = events[1:4]
    assert [e["id"] for e in batch] == [f"{CHAIN}:{BLOCK_HASH}:0:4:erc1155_transfer:{n}" for n in range(3)]
    assert [(e["token_id"], e["value"]) for e in batch] == [("1", "10"), ("2", "20"), (str(2**256 - 1), "30")]
    assert all((e["operator"], e["from"], e["to"], e["token"]) == (CAROL, ALICE, BOB, TOKEN) for e in batch)


def test_erc1155_empty_batch_gives_only_the_log():
    data = "0x" + encode(["uint256[]", "uint256[]"], [[], []]).hex()
    log = make_log(0, [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], data)
    assert kinds(block_events(CHAIN, one_log_block(log))) == ["transaction", "log"]


def test_other_logs_are_plain_logs_including_anonymous_ones():
    logs = [
        make_log(0, [OTHER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1)),
        make_log(1, [], "0xdead"),
    ]
    events = block_events(CHAIN, make_block([make_tx(0)], [make_receipt(0, logs=logs)]))
    assert kinds(events) == ["transaction", "log", "log"]
    assert events[2]["topics"] == [] and events[2]["data"] == "0xdead"


def test_hex_is_lowercased():
    log = make_log(
        0, [TRANSFER_TOPIC.upper().replace("0X", "0x"), topic_of(ALICE), topic_of(BOB)], "0x" + word(255)
    )
    log["address"] = TOKEN.upper().replace("0X", "0x")
    tx = make_tx(0, sender=ALICE.upper().replace("0X", "0x"), to=BOB.upper().replace("0X", "0x"))
    tx["hash"] = tx["hash"].upper().replace("0X", "0x")
    receipt = make_receipt(0, logs=[log])
    block = make_block([tx], [receipt])
    events = block_events(CHAIN, block)
    assert kinds(events) == ["transaction", "erc20_transfer", "log"]
    assert events[0]["from"] == ALICE and events[0]["to"] == BOB and events[0]["tx_hash"] == tx_hash(0)
    assert events[1]["token"] == TOKEN and events[2]["topics"][0] == TRANSFER_TOPIC


MALFORMED_TOKEN_LOGS = {
    "transfer with 2 topics": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE)], "0x" + word(1)),
    "transfer with 1 topic and all in data": make_log(0, [TRANSFER_TOPIC], "0x" + word(1) * 3),
    "erc20 short data": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1)[:-2]),
    "erc20 long data": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1) + "00"),
    "erc20 odd data": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1) + "0"),
    "erc20 empty data": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x"),
    "erc20 non-hex data": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + "zz" * 32),
    "erc20 short topic": make_log(0, [TRANSFER_TOPIC, ALICE, topic_of(BOB)], "0x" + word(1)),
    "erc20 dirty address padding": make_log(
        0, [TRANSFER_TOPIC, "0x" + "ff" * 12 + ALICE[2:], topic_of(BOB)], "0x" + word(1)
    ),
    "erc721 short token id topic": make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB), "0x01"]),
    "transfer with 5 topics": make_log(0, [TRANSFER_TOPIC] + [topic_of(ALICE)] * 4, "0x"),
    "single with 3 topics": make_log(
        0, [TRANSFER_SINGLE_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1) * 2
    ),
    "single short data": make_log(
        0, [TRANSFER_SINGLE_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], "0x" + word(1)
    ),
    "single odd data": make_log(
        0, [TRANSFER_SINGLE_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], "0x" + word(1) * 2 + "a"
    ),
    "batch with 3 topics": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(ALICE), topic_of(BOB)],
        "0x" + encode(["uint256[]", "uint256[]"], [[1], [1]]).hex(),
    ),
    "batch unequal arrays": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)],
        "0x" + encode(["uint256[]", "uint256[]"], [[1, 2], [1]]).hex(),
    ),
    "batch offset beyond data": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)],
        "0x" + word(4096) + word(64) + word(0),
    ),
    "batch length beyond data": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)],
        "0x" + word(64) + word(128) + word(2**40) + word(0),
    ),
    "batch truncated": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)],
        "0x" + encode(["uint256[]", "uint256[]"], [[1, 2], [3, 4]]).hex()[:-64],
    ),
    "batch empty data": make_log(
        0, [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)], "0x"
    ),
    "batch odd data": make_log(
        0,
        [TRANSFER_BATCH_TOPIC, topic_of(CAROL), topic_of(ALICE), topic_of(BOB)],
        "0x" + encode(["uint256[]", "uint256[]"], [[1], [1]]).hex() + "0",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_TOKEN_LOGS))
def test_malformed_token_logs_become_plain_logs(name):
    log = copy.deepcopy(MALFORMED_TOKEN_LOGS[name])
    events = block_events(CHAIN, one_log_block(log))
    assert kinds(events) == ["transaction", "log"]
    assert events[1]["topics"] == [topic.lower() for topic in log["topics"]]
    assert events[1]["data"] == log["data"].lower()


def test_order_ids_and_uniqueness_across_transactions():
    erc20 = make_log(0, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(1))
    other = make_log(1, [OTHER_TOPIC], "0x")
    later = make_log(2, [TRANSFER_TOPIC, topic_of(BOB), topic_of(CAROL)], "0x" + word(2))
    block = make_block(
        [make_tx(0, value=1), make_tx(1, to=TOKEN)],
        # logs of tx 0 given out of order: the events still come by log index
        [make_receipt(0, logs=[other, erc20]), make_receipt(1, logs=[later])],
    )
    events = block_events(CHAIN, block)
    assert [(e["tx_index"], e["log_index"], e["kind"]) for e in events] == [
        (0, None, "transaction"),
        (0, None, "native_transfer"),
        (0, 0, "erc20_transfer"),
        (0, 0, "log"),
        (0, 1, "log"),
        (1, None, "transaction"),
        (1, 2, "erc20_transfer"),
        (1, 2, "log"),
    ]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert block_events(CHAIN, block) == events  # same block, same ids
    assert all(e["id"].startswith(f"{CHAIN}:{BLOCK_HASH}:") for e in events)
    assert {e["tx_hash"] for e in events if e["tx_index"] == 1} == {tx_hash(1)}


def test_empty_block_has_no_events():
    assert block_events(CHAIN, make_block([], [])) == []


def _without(obj: dict, key: str) -> dict:
    return {k: v for k, v in obj.items() if k != key}


MALFORMED_BLOCKS = {
    "tx hash missing": (lambda tx, r: (_without(tx, "hash"), r), "'hash'"),
    "tx index missing": (lambda tx, r: (_without(tx, "transactionIndex"), r), "'transactionIndex'"),
    "tx index not hex": (lambda tx, r: ({**tx, "transactionIndex": "zero"}, r), "'transactionIndex'"),
    "from missing": (lambda tx, r: (_without(tx, "from"), r), "'from'"),
    "from not an address": (lambda tx, r: ({**tx, "from": "0x1234"}, r), "'from'"),
    "to not an address": (lambda tx, r: ({**tx, "to": 17}, r), "'to'"),
    "value missing": (lambda tx, r: (_without(tx, "value"), r), "'value'"),
    "value not hex": (lambda tx, r: ({**tx, "value": "0xgg"}, r), "'value'"),
    "input missing": (lambda tx, r: (_without(tx, "input"), r), "'input'"),
    "input not hex": (lambda tx, r: ({**tx, "input": "0xnothexatall"}, r), "'input'"),
    "status missing": (lambda tx, r: (tx, _without(r, "status")), "'status'"),
    "status not 0 or 1": (lambda tx, r: (tx, {**r, "status": "0x2"}), "'status'"),
    "gasUsed missing": (lambda tx, r: (tx, _without(r, "gasUsed")), "'gasUsed'"),
    "gasUsed not hex": (lambda tx, r: (tx, {**r, "gasUsed": None}), "'gasUsed'"),
    "contractAddress bad": (lambda tx, r: (tx, {**r, "contractAddress": "0xnope"}), "'contractAddress'"),
    "logs missing": (lambda tx, r: (tx, _without(r, "logs")), "'logs'"),
    "log not an object": (lambda tx, r: (tx, {**r, "logs": ["0x00"]}), "log is str"),
    "log index missing": (
        lambda tx, r: (tx, {**r, "logs": [_without(make_log(0, []), "logIndex")]}),
        "'logIndex'",
    ),
    "log address bad": (lambda tx, r: (tx, {**r, "logs": [make_log(0, [], address="0x12")]}), "'address'"),
    "log topics not a list": (
        lambda tx, r: (tx, {**r, "logs": [{**make_log(0, []), "topics": "0x"}]}),
        "'topics'",
    ),
    "log topic not a string": (lambda tx, r: (tx, {**r, "logs": [make_log(0, [12])]}), "'topics'"),
    "log data missing": (lambda tx, r: (tx, {**r, "logs": [_without(make_log(0, []), "data")]}), "'data'"),
    "transaction not an object": (lambda tx, r: (tx["hash"], r), "transaction is str"),
    "receipt not an object": (lambda tx, r: (tx, None), "receipt is NoneType"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BLOCKS))
def test_malformed_transaction_or_receipt_raises_a_clear_error(name):
    mutate, expected_text = MALFORMED_BLOCKS[name]
    tx, receipt = mutate(make_tx(0, value=1), make_receipt(0))
    block = make_block([make_tx(1), tx], [make_receipt(1), receipt])

    with pytest.raises(MalformedBlockError) as caught:
        block_events(CHAIN, block)

    message = str(caught.value)
    assert "block 42" in message and BLOCK_HASH in message and "transaction 1" in message
    assert expected_text in message


def test_receipt_count_mismatch_raises():
    with pytest.raises(MalformedBlockError, match="1 receipts for 2 transactions"):
        block_events(CHAIN, make_block([make_tx(0), make_tx(1)], [make_receipt(0)]))


def test_data_field_instead_of_input_is_accepted():
    tx = _without(make_tx(0, data="0x"), "input")
    tx["data"] = "0x12345678ff"
    assert block_events(CHAIN, make_block([tx], [make_receipt(0)]))[0]["selector"] == "0x12345678"


def test_large_block_stays_correct():
    # ~800 events: 200 transactions with one ERC-20 transfer each
    logs_per_tx = [
        [make_log(i, [TRANSFER_TOPIC, topic_of(ALICE), topic_of(BOB)], "0x" + word(i), address=TOKEN)]
        for i in range(200)
    ]
    block = make_block(
        [make_tx(i, to=TOKEN, value=i % 2) for i in range(200)],
        [make_receipt(i, logs=logs_per_tx[i]) for i in range(200)],
    )
    events = block_events(CHAIN, block)
    assert len(events) == 200 + 100 + 200 * 2
    assert [e["value"] for e in events if e["kind"] == "erc20_transfer"] == [str(i) for i in range(200)]
