"""What the tests feed blockhook, built one way for every test: events of each kind (the shapes and
ids of docs/events.md), blocks of them, monitors (API bodies, stored monitors, matcher views),
and the Lambda events AWS hands the functions (API Gateway REST proxy, MSK, SQS, EventBridge schedule).

Every value has a fixed default, so a test names only the fields its meaning depends on."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from blockhook.streaming.codec import BlockHeader, encode_block

if TYPE_CHECKING:
    from blockhook.chain.reader import RawBlock
    from blockhook.matching.matcher import MonitorView
    from blockhook.store.models import MonitorModel

# The store, the matcher and the local adapters are imported where used: the benchmarks import these
# builders too, and measure what the process holds.

ALL_KINDS = (
    "transaction", "native_transfer", "internal_transfer", "withdrawal",
    "erc20_transfer", "erc721_transfer", "erc1155_transfer", "log",
)  # fmt: skip
LOCAL_CHAIN = 31337  # Anvil's chain id
BLOCK_NUMBER = 100
BLOCK_HASH = "0x" + "b1" * 32
BLOCK_TIMESTAMP = 1_730_000_000
UNUSED_WEBHOOK = "http://127.0.0.1:9/hook"  # the discard port: nothing answers
DELIVERY_QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:deliveries"


# The parties of every_kind_block().
A, B, C = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20


def new_address() -> str:
    return "0x" + secrets.token_hex(20)


def new_hash() -> str:
    return "0x" + secrets.token_hex(32)


def address_topic(address: str) -> str:
    """An address as an indexed log topic: left-padded to 32 bytes."""
    return "0x" + "0" * 24 + address[2:]


def every_kind_block() -> RawBlock:
    """One block, as a node answers it (RawBlock), that makes an event of every kind: a transaction from
    A to C that moves value, calls B inside, and emits an ERC-20, an ERC-721, an ERC-1155 single and an
    ERC-1155 batch transfer from A to B (all logs of C); and a withdrawal to B."""
    from blockhook.chain.events import TRANSFER_BATCH_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_TOPIC
    from blockhook.chain.reader import RawBlock
    from blockhook.chain.traces import CALL_TRACER

    def _word(value: int) -> str:
        return f"{value:064x}"

    logs = [
        {"address": C, "topics": [TRANSFER_TOPIC, address_topic(A), address_topic(B)], "data": "0x" + _word(5), "logIndex": "0x0"},
        {"address": C, "topics": [TRANSFER_TOPIC, address_topic(A), address_topic(B), "0x" + _word(9)], "data": "0x", "logIndex": "0x1"},
        {"address": C, "topics": [TRANSFER_SINGLE_TOPIC, address_topic(A), address_topic(A), address_topic(B)],
         "data": "0x" + _word(1) + _word(2), "logIndex": "0x2"},
        {"address": C, "topics": [TRANSFER_BATCH_TOPIC, address_topic(A), address_topic(A), address_topic(B)],
         "data": "0x" + _word(64) + _word(128) + _word(1) + _word(3) + _word(1) + _word(4), "logIndex": "0x3"},
    ]  # fmt: skip
    tx = {"hash": "0x" + "01" * 32, "transactionIndex": "0x0", "from": A, "to": C, "value": "0x5",
          "input": "0xa9059cbb", "type": "0x2"}  # fmt: skip
    receipt = {"transactionHash": tx["hash"], "status": "0x1", "gasUsed": "0x5208", "contractAddress": None, "logs": logs}
    trace = {"type": "CALL", "from": A, "to": C, "value": "0x5", "calls": [{"type": "CALL", "from": C, "to": B, "value": "0x2"}]}
    withdrawal = {"index": "0x1", "validatorIndex": "0x2", "address": B, "amount": "0x3"}
    return RawBlock(7, "0x" + "ab" * 32, "0x" + "cd" * 32, 1_700_000_000, [tx], [receipt], withdrawals=[withdrawal],
                    traces=[{"txHash": tx["hash"], "result": trace}], trace_format=CALL_TRACER)  # fmt: skip


# --- events -----------------------------------------------------------------------------------------


def event(
    kind: str,
    *,
    chain_id: int = 1,
    block_number: int = BLOCK_NUMBER,
    block_hash: str = BLOCK_HASH,
    block_timestamp: int = BLOCK_TIMESTAMP,
    tx_index: int = 0,
    log_index: int | None = None,
    tx_hash: str | None = None,
    id_suffix: str = "",
    **fields: Any,
) -> dict:
    """An event of `kind` with the fields every kind has, then `fields`; the tx hash is made of the index."""
    position = "tx" if log_index is None else str(log_index)
    return {
        "id": f"{chain_id}:{block_hash}:{tx_index}:{position}:{kind}{id_suffix}",
        "kind": kind,
        "chain_id": chain_id,
        "block_number": block_number,
        "block_hash": block_hash,
        "block_timestamp": block_timestamp,
        "tx_hash": tx_hash or "0x" + f"{tx_index:064x}",
        "tx_index": tx_index,
        "log_index": log_index,
        **fields,
    }


def transaction(sender: str, to: str | None, contract_address: str | None = None, *, value: str = "0",
                selector: str | None = None, status: int = 1, gas_used: int = 21000, **at: Any) -> dict:
    return event("transaction", **{"from": sender, "to": to}, value=value, selector=selector, status=status,
                 gas_used=gas_used, contract_address=contract_address, **{"type": 2, **at})


def native_transfer(sender: str, to: str, *, value: str = "5", **at: Any) -> dict:
    return event("native_transfer", **{"from": sender, "to": to}, value=value, **at)


def internal_transfer(sender: str, to: str, trace_address: str = "0", *, value: str = "3", call_type: str = "call",
                      **at: Any) -> dict:
    """Value moved by a call, create or selfdestruct inside a transaction, at `trace_address` of its call tree."""
    return event("internal_transfer", id_suffix=f":{trace_address}", **{"from": sender, "to": to}, value=value,
                 call_type=call_type, trace_address=trace_address, **at)


def withdrawal(to: str, withdrawal_index: int = 0, *, value: str = "32000000000", validator_index: int = 7,
               chain_id: int = 1, block_hash: str = BLOCK_HASH, **at: Any) -> dict:
    """A beacon-chain withdrawal: made by no transaction, so no tx_hash or tx_index."""
    return {
        **event("withdrawal", chain_id=chain_id, block_hash=block_hash, **at),
        "id": f"{chain_id}:{block_hash}:withdrawal:{withdrawal_index}",
        "tx_hash": None,
        "tx_index": None,
        "to": to,
        "value": value,
        "validator_index": validator_index,
        "withdrawal_index": withdrawal_index,
    }


def erc20(token: str, sender: str, to: str, *, value: str = "10", log_index: int = 0, **at: Any) -> dict:
    return event("erc20_transfer", log_index=log_index, token=token, **{"from": sender, "to": to}, value=value, **at)


def erc721(token: str, sender: str, to: str, *, token_id: str = "1", log_index: int = 0, **at: Any) -> dict:
    return event("erc721_transfer", log_index=log_index, token=token, **{"from": sender, "to": to},
                 token_id=token_id, **at)


def erc1155(token: str, operator: str, sender: str, to: str, batch_n: int | None = None, *, token_id: str = "3",
            value: str = "2", log_index: int = 0, **at: Any) -> dict:
    """From a TransferSingle log, or (batch_n given) the n-th id of a TransferBatch log."""
    suffix = "" if batch_n is None else f":{batch_n}"
    return event("erc1155_transfer", log_index=log_index, id_suffix=suffix, token=token, operator=operator,
                 **{"from": sender, "to": to}, token_id=token_id, value=value, **at)


def log(address: str, topics: list[str], *, data: str = "0x", log_index: int = 0, **at: Any) -> dict:
    return event("log", log_index=log_index, address=address, topics=topics, data=data, **at)


class Block:
    """One block's header and the events added to it, as the worker puts them on the topic."""

    def __init__(self, chain_id: int, number: int = BLOCK_NUMBER, block_hash: str | None = None,
                 parent_hash: str | None = None, timestamp: int | None = None) -> None:
        timestamp = BLOCK_TIMESTAMP + number if timestamp is None else timestamp
        self.header = BlockHeader(chain_id, number, block_hash or new_hash(), parent_hash or new_hash(), timestamp)
        self.events: list[dict] = []

    @property
    def at(self) -> dict[str, Any]:
        """The block fields of an event of this block."""
        return {"chain_id": self.header.chain_id, "block_number": self.header.number,
                "block_hash": self.header.hash, "block_timestamp": self.header.timestamp}  # fmt: skip

    @property
    def fields(self) -> dict[str, Any]:
        """The header as delivery payloads carry it."""
        return {"number": self.header.number, "hash": self.header.hash, "parent_hash": self.header.parent_hash,
                "timestamp": self.header.timestamp}  # fmt: skip

    def add(self, built: dict) -> dict:
        self.events.append(built)
        return built

    def transaction(self, tx_index: int, sender: str, to: str | None, **fields: Any) -> dict:
        return self.add(transaction(sender, to, tx_index=tx_index, **self.at, **fields))

    def native_transfer(self, tx_index: int, sender: str, to: str, value: int) -> dict:
        return self.add(native_transfer(sender, to, value=str(value), tx_index=tx_index, **self.at))

    def erc20(self, tx_index: int, log_index: int, token: str, sender: str, to: str, value: str = "1000") -> dict:
        return self.add(erc20(token, sender, to, value=value, tx_index=tx_index, log_index=log_index, **self.at))

    def internal(self, tx_index: int, trace_address: str, sender: str, to: str, value: int) -> dict:
        return self.add(internal_transfer(sender, to, trace_address, value=str(value), tx_index=tx_index, **self.at))

    def withdrawal(self, index: int, to: str, value: int) -> dict:
        return self.add(withdrawal(to, index, value=str(value), **self.at))

    def log(self, tx_index: int, log_index: int, address: str, topics: list[str], data: str = "0x") -> dict:
        return self.add(log(address, topics, data=data, tx_index=tx_index, log_index=log_index, **self.at))

    def encode(self, **options: Any) -> list[bytes]:
        return encode_block(self.header, self.events, **options)


# --- monitors ---------------------------------------------------------------------------------------


def monitor_body(webhook_url: str = UNUSED_WEBHOOK, *, name: str = "test monitor", chain_ids: Iterable[int] = (LOCAL_CHAIN,),
                 kinds: Iterable[str] | None = None, addresses: Iterable[str] | None = None, **fields: Any) -> dict:
    """A POST /v1/monitors body; `kinds` and `addresses` become its filters."""
    body = {"name": name, "chain_ids": list(chain_ids), "webhook_url": webhook_url}
    filters = {"kinds": list(kinds)} if kinds is not None else {}
    if addresses is not None:
        filters["addresses"] = list(addresses)
    if filters:
        body["filters"] = filters
    return {**body, **fields}


def create_monitor(tenant_id: str, chain_id: int, kinds: Iterable[str] = ("transaction",),
                   addresses: Iterable[tuple[str, str | None]] | None = None, **fields: Any) -> MonitorModel:
    """A stored monitor of these (address, label) pairs, or of every party without them."""
    from blockhook.store import monitors as monitor_store
    from blockhook.store.secret_box import configured_secret_box

    monitor, _ = monitor_store.create_monitor(
        tenant_id,
        {
            "name": "test monitor",
            "chain_ids": [chain_id],
            "webhook_url": UNUSED_WEBHOOK,
            "kinds": list(kinds),
            "contracts": [],
            "event_signatures": [],
            "active": True,
            "confirmations": 0,
            **fields,
        },
        configured_secret_box(),
        None if addresses is None else list(addresses),
    )
    return monitor


def monitor_view(monitor_id: str = "m1", kinds: Iterable[str] = ALL_KINDS, chain_ids: Iterable[int] = (1,),
                 watches_all: bool = False, **fields: Any) -> MonitorView:
    """A monitor as the matcher sees it."""
    from blockhook.matching.matcher import MonitorView

    return MonitorView(monitor_id=monitor_id, tenant_id="t1", chain_ids=frozenset(chain_ids), kinds=frozenset(kinds),
                       watches_all_addresses=watches_all, **fields)  # fmt: skip


# --- Lambda events ----------------------------------------------------------------------------------


def api_event(method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b"",
              api_key_id: str | None = None) -> dict:
    """The REST proxy event API Gateway hands the API function, from 127.0.0.1."""
    from blockhook.local.api_gateway import proxy_event

    built = proxy_event(method, path, dict(headers or {}), body, "127.0.0.1")
    if api_key_id is not None:
        built["requestContext"]["identity"]["apiKeyId"] = api_key_id
    return built


def msk_event(partitions: Mapping[int, list[bytes]], topic: str = "blocks", first_offset: int = 40,
              chain_id: int = LOCAL_CHAIN) -> dict:
    """The event Amazon MSK hands the matcher: each partition's values as its records (base64), keyed by the
    chain id as ingest keys them, at offsets from `first_offset` (not 0: an offset is not a place in the batch)."""
    key = base64.b64encode(str(chain_id).encode()).decode()
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/blockhook/tests",
        "bootstrapServers": "b-1.blockhook.example:9098",
        "records": {
            f"{topic}-{partition}": [
                {
                    "topic": topic,
                    "partition": partition,
                    "offset": first_offset + position,
                    "timestamp": BLOCK_TIMESTAMP * 1000,
                    "timestampType": "CREATE_TIME",
                    "key": key,
                    "value": base64.b64encode(value).decode(),
                    "headers": [],
                }
                for position, value in enumerate(values)
            ]
            for partition, values in partitions.items()
        },
    }


def sqs_event(messages: list[dict], queue_arn: str = DELIVERY_QUEUE_ARN) -> dict:
    """The event Lambda's SQS source hands the deliver function, of messages as ReceiveMessage gave them."""
    from blockhook.local.sqs_poller import sqs_event as local_sqs_event

    return local_sqs_event(messages, queue_arn)


def scheduled_event() -> dict:
    """The event the EventBridge schedule hands the ingest function."""
    from blockhook.local.scheduler import scheduled_event as local_scheduled_event

    return local_scheduled_event()
