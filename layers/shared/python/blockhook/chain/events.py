"""Turn one raw block into its events (the kinds and fields of chain/kinds.py).

Runs on every block (hundreds of events each), so it works on the hex strings
directly: int(x, 16) and slicing, no web3 objects. A log that does not decode
as the standard it claims stays a plain `log` event; a transaction or receipt
that lacks a field the node must send raises MalformedBlockError.
"""

from __future__ import annotations

import re
from typing import Any

from blockhook.chain.hashing import keccak_text
from blockhook.chain.reader import RawBlock
from blockhook.chain.traces import InternalTransfer, MalformedTraceError, internal_transfers


def _topic0(signature: str) -> str:
    return "0x" + keccak_text(signature).hex()


TRANSFER_TOPIC = _topic0("Transfer(address,address,uint256)")
TRANSFER_SINGLE_TOPIC = _topic0("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH_TOPIC = _topic0("TransferBatch(address,address,address,uint256[],uint256[])")
_TOKEN_TOPICS = frozenset({TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC})

_WORD = re.compile(r"0x[0-9a-f]{64}\Z")
_HEX_DATA = re.compile(r"0x(?:[0-9a-f]{2})*\Z")
_ADDRESS = re.compile(r"0x[0-9a-f]{40}\Z")
_SELECTOR = re.compile(r"0x[0-9a-f]{8}")
_ADDRESS_PADDING = "0x" + "0" * 24


class MalformedBlockError(ValueError):
    """A transaction or receipt of the block lacks a field or holds a value that is not what the node must send."""


class _Undecodable(Exception):
    """A log that claims a token standard but does not follow it: it stays a plain log."""


def block_events(chain_id: int, block: RawBlock) -> list[dict]:
    """All events of a block, ordered by (tx_index, log_index), a transaction's own events before its logs."""
    transactions, receipts = block.transactions, block.receipts
    if not isinstance(transactions, list) or not isinstance(receipts, list):
        raise MalformedBlockError(
            f"block {block.number} ({block.hash}): transactions and receipts must be lists"
        )
    if len(transactions) != len(receipts):
        raise MalformedBlockError(
            f"block {block.number} ({block.hash}): {len(receipts)} receipts for {len(transactions)} transactions"
        )
    events: list[dict] = []
    id_prefix = f"{chain_id}:{block.hash}:"
    moved_inside = _internal_transfers(block)
    for position, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True)):
        fields = _Fields(block, position)
        tx = fields.object(tx, "transaction")
        receipt = fields.object(receipt, "receipt")
        tx_index = fields.quantity(tx, "transactionIndex")
        common = {
            "chain_id": chain_id,
            "block_number": block.number,
            "block_hash": block.hash,
            "block_timestamp": block.timestamp,
            "tx_hash": fields.hash(tx, "hash"),
            "tx_index": tx_index,
        }
        tx_id = f"{id_prefix}{tx_index}:tx:"
        sender = fields.address(tx, "from")
        to = fields.optional_address(tx, "to")
        value = fields.quantity(tx, "value")
        contract_address = fields.optional_address(receipt, "contractAddress")
        status = fields.status(receipt)
        events.append(
            {
                "id": tx_id + "transaction",
                "kind": "transaction",
                **common,
                "log_index": None,
                "from": sender,
                "to": to,
                "value": str(value),
                "selector": fields.selector(tx),
                "status": status,
                "gas_used": fields.quantity(receipt, "gasUsed"),
                "contract_address": contract_address,
                "type": fields.tx_type(tx),
            }
        )
        failed = status == 0
        if value > 0 and not failed:
            events.append(
                {
                    "id": tx_id + "native_transfer",
                    "kind": "native_transfer",
                    **common,
                    "log_index": None,
                    "from": sender,
                    # value sent with a creation goes to the new contract
                    "to": to if to is not None else contract_address,
                    "value": str(value),
                }
            )
        if moved_inside is not None and not failed:
            events += [_internal_event(tx_id, common, transfer) for transfer in moved_inside[position]]
        logs = receipt.get("logs")
        if not isinstance(logs, list):
            raise fields.error("receipt", "logs", logs, "is missing or not a list")
        parsed_logs = [_parse_log(fields, log) for log in logs]
        parsed_logs.sort(key=lambda parsed: parsed[0])
        for log_index, address, topics, data in parsed_logs:
            log_id = f"{id_prefix}{tx_index}:{log_index}:"
            log_common = {**common, "log_index": log_index}
            if topics and topics[0] in _TOKEN_TOPICS:
                # A log that is not the standard it claims gives only the plain log below.
                try:  # noqa: SIM105 (suppress() costs a context manager a log: this runs on every token log)
                    events += _token_events(log_id, log_common, address, topics, data)
                except (_Undecodable, ValueError):
                    pass
            events.append(
                {
                    "id": log_id + "log",
                    "kind": "log",
                    **log_common,
                    "address": address,
                    "topics": topics,
                    "data": data,
                }
            )
    events += _withdrawal_events(chain_id, block)
    return events


def _internal_transfers(block: RawBlock) -> list[list[InternalTransfer]] | None:
    """Per transaction, the value its inner frames moved; None when the block's traces were not read."""
    if block.trace_format is None:
        return None
    tx_hashes = [tx.get("hash", "").lower() if isinstance(tx, dict) else "" for tx in block.transactions]
    try:
        return internal_transfers(block.trace_format, block.traces, tx_hashes)
    except MalformedTraceError as error:
        raise MalformedBlockError(f"block {block.number} ({block.hash}): traces: {error}") from None


def _internal_event(tx_id: str, common: dict, transfer: InternalTransfer) -> dict:
    return {
        "id": f"{tx_id}internal_transfer:{transfer.trace_address}",
        "kind": "internal_transfer",
        **common,
        "log_index": None,
        "from": transfer.sender,
        "to": transfer.recipient,
        "value": str(transfer.value),
        "call_type": transfer.call_type,
        "trace_address": transfer.trace_address,
    }


def _withdrawal_events(chain_id: int, block: RawBlock) -> list[dict]:
    """EIP-4895 withdrawals: credited at the end of the block, by no transaction."""
    events = []
    for position, withdrawal in enumerate(block.withdrawals or ()):
        fields = _Fields(block, position, part="withdrawal")
        withdrawal = fields.object(withdrawal, "withdrawal")
        index = fields.quantity(withdrawal, "index", "withdrawal")
        events.append(
            {
                "id": f"{chain_id}:{block.hash}:withdrawal:{index}",
                "kind": "withdrawal",
                "chain_id": chain_id,
                "block_number": block.number,
                "block_hash": block.hash,
                "block_timestamp": block.timestamp,
                "tx_hash": None,
                "tx_index": None,
                "log_index": None,
                "to": fields.address(withdrawal, "address", "withdrawal"),
                # the consensus layer counts in gwei
                "value": str(fields.quantity(withdrawal, "amount", "withdrawal") * 10**9),
                "validator_index": fields.quantity(withdrawal, "validatorIndex", "withdrawal"),
                "withdrawal_index": index,
            }
        )
    return events


def _parse_log(fields: _Fields, log: Any) -> tuple[int, str, list[str], str]:
    log = fields.object(log, "log")
    topics = log.get("topics")
    if not isinstance(topics, list) or not all(isinstance(topic, str) for topic in topics):
        raise fields.error("log", "topics", topics, "is not a list of hex strings")
    data = log.get("data")
    if not isinstance(data, str):
        raise fields.error("log", "data", data, "is not a hex string")
    return (
        fields.quantity(log, "logIndex", "log"),
        fields.address(log, "address", "log"),
        [topic.lower() for topic in topics],
        data.lower(),
    )


def _token_events(log_id: str, common: dict, token: str, topics: list[str], data: str) -> list[dict]:
    """The token-standard events of one log whose topic 0 is a known token event; raises when it does not fit."""
    topic0, count = topics[0], len(topics)
    if topic0 == TRANSFER_TOPIC and count == 3:
        return [
            {
                "id": log_id + "erc20_transfer",
                "kind": "erc20_transfer",
                **common,
                "token": token,
                "from": _topic_address(topics[1]),
                "to": _topic_address(topics[2]),
                "value": str(_word(data)),
            }
        ]
    if topic0 == TRANSFER_TOPIC and count == 4:
        return [
            {
                "id": log_id + "erc721_transfer",
                "kind": "erc721_transfer",
                **common,
                "token": token,
                "from": _topic_address(topics[1]),
                "to": _topic_address(topics[2]),
                "token_id": str(_word(topics[3])),
            }
        ]
    if count != 4 or topic0 == TRANSFER_TOPIC:
        raise _Undecodable
    parties = {
        "token": token,
        "operator": _topic_address(topics[1]),
        "from": _topic_address(topics[2]),
        "to": _topic_address(topics[3]),
    }
    if topic0 == TRANSFER_SINGLE_TOPIC:
        if len(data) != 130 or not _HEX_DATA.match(data):
            raise _Undecodable
        token_id, value = int(data[2:66], 16), int(data[66:], 16)
        return [
            {
                "id": log_id + "erc1155_transfer",
                "kind": "erc1155_transfer",
                **common,
                **parties,
                "token_id": str(token_id),
                "value": str(value),
            }
        ]
    ids, values = _two_uint_arrays(data)
    return [
        {
            "id": f"{log_id}erc1155_transfer:{n}",
            "kind": "erc1155_transfer",
            **common,
            **parties,
            "token_id": str(token_id),
            "value": str(value),
        }
        for n, (token_id, value) in enumerate(zip(ids, values, strict=True))
    ]


def _word(hex_word: str) -> int:
    if not _WORD.match(hex_word):
        raise _Undecodable
    return int(hex_word, 16)


def _topic_address(topic: str) -> str:
    if not _WORD.match(topic) or not topic.startswith(_ADDRESS_PADDING):
        raise _Undecodable
    return "0x" + topic[26:]


def _two_uint_arrays(data: str) -> tuple[list[int], list[int]]:
    """ABI-decode (uint256[], uint256[]) from 0x-hex, strictly within bounds; equal lengths required."""
    if not _HEX_DATA.match(data):
        raise _Undecodable
    body = data[2:]
    size = len(body) // 2

    def word_at(offset: int) -> int:
        if offset + 32 > size:
            raise _Undecodable
        return int(body[offset * 2 : offset * 2 + 64], 16)

    def array_at(offset: int) -> list[int]:
        length = word_at(offset)
        start = offset + 32
        if start + 32 * length > size:
            raise _Undecodable
        chars = start * 2
        return [int(body[chars + 64 * i : chars + 64 * i + 64], 16) for i in range(length)]

    ids, values = array_at(word_at(0)), array_at(word_at(32))
    if len(ids) != len(values):
        raise _Undecodable
    return ids, values


class _Fields:
    """Reads one transaction's (or withdrawal's) fields, naming the block, item and field in every error."""

    __slots__ = ("block", "position", "item")

    def __init__(self, block: RawBlock, position: int, part: str = "transaction"):
        self.block = block
        self.position = position
        self.item = part

    def error(self, part: str, field: str, value: Any, problem: str) -> MalformedBlockError:
        return MalformedBlockError(
            f"block {self.block.number} ({self.block.hash}): {self.item} {self.position} {part} field "
            f"{field!r} {problem}: {value!r:.100}"
        )

    def object(self, value: Any, part: str) -> dict:
        if not isinstance(value, dict):
            raise MalformedBlockError(
                f"block {self.block.number} ({self.block.hash}): {self.item} {self.position} {part} "
                f"is {type(value).__name__}, not an object"
            )
        return value

    def quantity(self, obj: dict, field: str, part: str | None = None) -> int:
        value = obj.get(field)
        try:
            return int(value, 16)
        except (TypeError, ValueError):
            raise self.error(part or _part(field), field, value, "is not a hex quantity") from None

    def hash(self, obj: dict, field: str) -> str:
        value = obj.get(field)
        lowered = value.lower() if isinstance(value, str) else None
        if lowered is None or not _WORD.match(lowered):
            raise self.error("transaction", field, value, "is not a 32-byte hex hash")
        return lowered

    def address(self, obj: dict, field: str, part: str | None = None) -> str:
        value = obj.get(field)
        lowered = value.lower() if isinstance(value, str) else None
        if lowered is None or not _ADDRESS.match(lowered):
            raise self.error(part or _part(field), field, value, "is not a 20-byte hex address")
        return lowered

    def optional_address(self, obj: dict, field: str) -> str | None:
        return None if obj.get(field) is None else self.address(obj, field)

    def selector(self, tx: dict) -> str | None:
        data = tx.get("input")
        if data is None:
            data = tx.get("data")  # some nodes name the calldata "data"
        if not isinstance(data, str) or not data.startswith("0x"):
            raise self.error("transaction", "input", data, "is not a hex string")
        if len(data) < 10:
            return None
        selector = data[:10].lower()
        if not _SELECTOR.match(selector):
            raise self.error("transaction", "input", data, "is not a hex string")
        return selector

    def status(self, receipt: dict) -> int | None:
        if receipt.get("status") is None and receipt.get("root") is not None:
            # Pre-Byzantium receipts carry a state root and no status: whether it failed is not said.
            return None
        status = self.quantity(receipt, "status", "receipt")
        if status not in (0, 1):
            raise self.error("receipt", "status", receipt.get("status"), "is neither 0x0 nor 0x1")
        return status

    def tx_type(self, tx: dict) -> int:
        # Nodes from before EIP-2718 send no type: every transaction then is a legacy one.
        return 0 if tx.get("type") is None else self.quantity(tx, "type")


_RECEIPT_FIELDS = frozenset({"gasUsed", "status", "contractAddress", "logs"})


def _part(field: str) -> str:
    return "receipt" if field in _RECEIPT_FIELDS else "transaction"
