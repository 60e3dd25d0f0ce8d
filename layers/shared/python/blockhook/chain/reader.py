"""Read EVM blocks with their receipts (and call traces where the chain reads them): one batched
JSON-RPC request per range of blocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

from blockhook.chain.rpc import JsonRpcClient, RpcError
from blockhook.chain.traces import TRACE_FORMATS, trace_call

logger = logging.getLogger(__name__)

# The block tags of a proof-of-stake node that a monitor may wait for instead of a number of blocks.
FINALITY_TAGS = ("safe", "finalized")


@dataclass(frozen=True)
class RawBlock:
    """A block as the node gave it: raw JSON-RPC dicts (hex strings), receipts in transaction order."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transactions: list[dict]
    receipts: list[dict]
    withdrawals: list[dict] | None = None  # None before Shanghai: the block has no such field
    traces: Any = None  # the node's answer to the trace call of `trace_format`; None when not read
    trace_format: str | None = None


class ChainReadError(RuntimeError):
    """The node's answer is inconsistent or malformed (often a node mid-reorg); try again later."""


class ChainReader(Protocol):
    def chain_id(self) -> int: ...

    def head(self) -> int: ...

    def blocks(self, start: int, end: int) -> list[RawBlock]: ...

    def block_hash(self, number: int) -> str | None: ...

    def genesis_hash(self) -> str | None: ...

    trace_format: str | None

    def finality(self) -> dict[str, int | None]: ...

    def detect_trace_format(self) -> str | None: ...


class RpcChainReader:
    """ChainReader over JSON-RPC: eth_getBlockReceipts when the node has it, else per-transaction receipts."""

    def __init__(self, client: JsonRpcClient, trace_format: str | None = None):
        self._client = client
        self._chain_id: int | None = None
        self._block_receipts = True  # until the node says it lacks eth_getBlockReceipts
        self.trace_format = trace_format  # None: call traces are not read

    def finality(self) -> dict[str, int | None]:
        """The node's `safe` and `finalized` block numbers; None for a tag the node does not know
        (chains without proof-of-stake finality, old nodes)."""
        heads: dict[str, int | None] = {}
        for tag in FINALITY_TAGS:
            try:
                block = self._client.call("eth_getBlockByNumber", [tag, False])
            except RpcError:
                heads[tag] = None
                continue
            if block is not None and not isinstance(block, dict):
                raise ChainReadError(f"eth_getBlockByNumber({tag!r}) answered {type(block).__name__}, not an object")
            heads[tag] = None if block is None else _quantity(block.get("number"), f"the {tag} block's number")
        return heads

    def detect_trace_format(self) -> str | None:
        """The first trace format the node serves for its head block, or None when it serves neither.

        Only the node's refusal counts as "not served"; a node that cannot be reached raises
        RpcUnavailable, so a passing outage never turns traces off."""
        number = self.head()
        for trace_format in TRACE_FORMATS:
            method, params = trace_call(trace_format, number)
            try:
                answer = self._client.call(method, params)
            except RpcError as error:
                logger.info("node does not serve %s: %s", method, error.message)
                continue
            if isinstance(answer, list):
                return trace_format
        return None

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = _quantity(self._client.call("eth_chainId", []), "eth_chainId")
        return self._chain_id

    def head(self) -> int:
        return _quantity(self._client.call("eth_blockNumber", []), "eth_blockNumber")

    def block_hash(self, number: int) -> str | None:
        block = self._client.call("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            return None
        return _hash(_block_object(number, block), "hash", number)

    def genesis_hash(self) -> str | None:
        """The hash of the chain's genesis block as block 1 names it (its parent hash), or block 0's own
        before there is a block 1; None when the node has neither. Block 1 is asked first: an Anvil that
        reloaded its state serves a regenerated block 0, while the blocks after it name the original."""
        first = self._client.call("eth_getBlockByNumber", ["0x1", False])
        if first is not None:
            return _hash(_block_object(1, first), "parentHash", 1)
        return self.block_hash(0)

    def blocks(self, start: int, end: int) -> list[RawBlock]:
        """Blocks start..end inclusive, ascending; shorter when the node does not have them all yet."""
        if start < 0:
            raise ValueError(f"start block must be >= 0, got {start}")
        if end < start:
            return []
        numbers = range(start, end + 1)
        if self._block_receipts:
            try:
                return self._read_with_block_receipts(numbers)
            except RpcError as error:
                if error.method != "eth_getBlockReceipts" or not error.method_not_found:
                    raise
                logger.info(
                    "node lacks eth_getBlockReceipts (%s); using eth_getTransactionReceipt", error.message
                )
                self._block_receipts = False
        return self._read_with_transaction_receipts(numbers)

    def _read_with_block_receipts(self, numbers: range) -> list[RawBlock]:
        calls = [("eth_getBlockByNumber", [hex(n), True]) for n in numbers]
        calls += [("eth_getBlockReceipts", [hex(n)]) for n in numbers]
        calls += self._trace_calls(numbers)
        results = self._client.batch(calls)
        count = len(numbers)
        blocks_found = _until_missing(results[:count])
        receipts_of = results[count : 2 * count]
        traces_of = results[2 * count :]
        raw_blocks = []
        for position, (number, block) in enumerate(zip(numbers, blocks_found, strict=False)):
            receipts = receipts_of[position]
            if receipts is None:
                raise ChainReadError(
                    f"block {number}: node returned the block but no receipts (node behind or mid-reorg)"
                )
            raw_blocks.append(self._with_traces(_raw_block(number, block, receipts), traces_of, position))
        _check_links(raw_blocks)
        return raw_blocks

    def _trace_calls(self, numbers: range) -> list[tuple[str, list]]:
        if self.trace_format is None:
            return []
        return [trace_call(self.trace_format, n) for n in numbers]

    def _with_traces(self, block: RawBlock, traces_of: list[Any], position: int) -> RawBlock:
        if self.trace_format is None:
            return block
        traces = traces_of[position]
        if traces is None:
            raise ChainReadError(f"block {block.number}: node returned the block but no traces (node behind?)")
        return replace(block, traces=traces, trace_format=self.trace_format)

    def _read_with_transaction_receipts(self, numbers: range) -> list[RawBlock]:
        blocks_found = _until_missing(
            self._client.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
        )
        tx_hashes = []
        for number, block in zip(numbers, blocks_found, strict=False):
            tx_hashes += [
                _hash(tx, "hash", number) for tx in _transactions(number, _block_object(number, block))
            ]
        traced = range(numbers.start, numbers.start + len(blocks_found))
        calls = [("eth_getTransactionReceipt", [h]) for h in tx_hashes] + self._trace_calls(traced)
        results = self._client.batch(calls) if calls else []
        receipts, traces_of = results[: len(tx_hashes)], results[len(tx_hashes) :]
        raw_blocks = []
        offset = 0
        for number, block in zip(numbers, blocks_found, strict=False):
            count = len(block["transactions"])
            block_receipts = receipts[offset : offset + count]
            offset += count
            for tx_hash, receipt in zip(tx_hashes[offset - count : offset], block_receipts, strict=True):
                if receipt is None:
                    raise ChainReadError(
                        f"block {number}: node has no receipt for {tx_hash} (node behind or mid-reorg)"
                    )
            raw_blocks.append(self._with_traces(_raw_block(number, block, block_receipts), traces_of, len(raw_blocks)))
        _check_links(raw_blocks)
        return raw_blocks


def _until_missing(blocks: list[Any]) -> list[Any]:
    for position, block in enumerate(blocks):
        if block is None:
            return blocks[:position]
    return blocks


def _block_object(number: int, block: Any) -> dict:
    if not isinstance(block, dict):
        raise ChainReadError(
            f"block {number}: eth_getBlockByNumber answered {type(block).__name__}, not an object"
        )
    return block


def _raw_block(number: int, block: Any, receipts: Any) -> RawBlock:
    block = _block_object(number, block)
    got = _quantity(block.get("number"), f"block {number} field number")
    if got != number:
        raise ChainReadError(f"block {number}: node answered block {got} instead")
    block_hash = _hash(block, "hash", number)
    transactions = _transactions(number, block)
    if not isinstance(receipts, list):
        raise ChainReadError(f"block {number}: receipts answer is {type(receipts).__name__}, not a list")
    if len(receipts) != len(transactions):
        raise ChainReadError(
            f"block {number}: {len(receipts)} receipts for {len(transactions)} transactions (node mid-reorg?)"
        )
    for position, (tx, receipt) in enumerate(zip(transactions, receipts, strict=True)):
        if not isinstance(receipt, dict):
            raise ChainReadError(
                f"block {number}: receipt {position} is {type(receipt).__name__}, not an object"
            )
        tx_hash = _hash(tx, "hash", number)
        if _hash(receipt, "transactionHash", number) != tx_hash:
            raise ChainReadError(
                f"block {number}: receipt {position} is for {receipt['transactionHash']}, not {tx_hash} (node mid-reorg?)"
            )
        receipt_block = receipt.get("blockHash")
        if isinstance(receipt_block, str) and receipt_block.lower() != block_hash:
            raise ChainReadError(
                f"block {number}: receipt {position} belongs to block {receipt_block}, not {block_hash} (node mid-reorg?)"
            )
    withdrawals = block.get("withdrawals")
    if withdrawals is not None and not isinstance(withdrawals, list):
        raise ChainReadError(f"block {number}: field withdrawals is {type(withdrawals).__name__}, not a list")
    return RawBlock(
        number=number,
        hash=block_hash,
        parent_hash=_hash(block, "parentHash", number),
        timestamp=_quantity(block.get("timestamp"), f"block {number} field timestamp"),
        transactions=transactions,
        receipts=receipts,
        withdrawals=withdrawals,
    )


def _transactions(number: int, block: dict) -> list[dict]:
    transactions = block.get("transactions")
    if not isinstance(transactions, list):
        raise ChainReadError(f"block {number}: field transactions is missing or not a list")
    for position, tx in enumerate(transactions):
        if not isinstance(tx, dict):
            raise ChainReadError(
                f"block {number}: transaction {position} is not an object (node ignored full=true?)"
            )
    return transactions


def _check_links(blocks: list[RawBlock]) -> None:
    """A batch answered across a reorg mixes branches: refuse it rather than hand out a broken chain."""
    for parent, child in zip(blocks, blocks[1:], strict=False):
        if child.parent_hash != parent.hash:
            raise ChainReadError(
                f"block {child.number}: parent hash {child.parent_hash} is not block {parent.number}'s hash "
                f"{parent.hash} (node mid-reorg)"
            )


def _quantity(value: Any, what: str) -> int:
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        raise ChainReadError(f"{what}: expected a hex quantity, got {value!r:.80}") from None


def _hash(obj: dict, field: str, number: int) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ChainReadError(f"block {number}: field {field} is not a 32-byte hex hash: {value!r:.80}")
    return value.lower()
