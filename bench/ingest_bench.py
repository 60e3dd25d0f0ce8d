"""Ingest against the physical limit (issue 7, item 3).

An Anvil is filled with N blocks of ~100 transactions (70% ERC-20 transfers), then, side by
side in this run and alternating:
  (a) fetch-only: RpcChainReader.blocks over the range in batches of `max_blocks_per_batch`
      (blocks with transactions plus eth_getBlockReceipts, batched JSON-RPC), nothing else;
  (b) ingest: ChainIngest.poll catching up the same range with a real Tansu broker and a moto
      server (events, encoding, produce with acks=all, flush, checkpoint per batch).
The figure is the ratio (b)/(a) of the best run of each (target <= 1.3).
Then the cost of call traces (internal_transfer events): the first --trace-blocks blocks ingested
with traces off and with trace_block, one after the other on the same chain, and fetched with
traces, so ingest with traces is also compared with a limit that fetches them.

    .venv/bin/python bench/ingest_bench.py [--blocks 2000] [--transactions 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import uuid
from pathlib import Path

import common
from chain_fixture import ChainFiller, start_anvil

from blockhook.chain.events import block_events
from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient

CHAIN_ID = 31337


def fetch_only(url: str, first: int, last: int, batch: int, traces: str | None = None) -> tuple[float, int, int]:
    reader = RpcChainReader(JsonRpcClient([url]), traces)
    started = time.perf_counter()
    blocks = transactions = 0
    for start in range(first, last + 1, batch):
        for block in reader.blocks(start, min(last, start + batch - 1)):
            blocks += 1
            transactions += len(block.transactions)
    return time.perf_counter() - started, blocks, transactions


def ingest_once(url: str, bootstrap: str, first: int, last: int, batch: int, traces: str = "off") -> tuple[float, int]:
    from blockhook.ingest.service import ChainIngest
    from blockhook.store.models import ChainStateModel
    from blockhook.streaming.producer import BlockProducer, ensure_topic

    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{CHAIN_ID}").delete()
    topic = "bench-blocks-" + uuid.uuid4().hex[:8]
    ensure_topic(bootstrap, topic, partitions=1)
    producer = BlockProducer(bootstrap, topic)
    config = ChainConfig(chain_id=CHAIN_ID, rpc_urls=[url], start_block=first, max_blocks_per_batch=batch,
                         traces=traces)
    ingest = ChainIngest(config, RpcChainReader(JsonRpcClient([url])), producer)
    wanted = last - first + 1
    produced = [0]
    send_block = producer.send_block

    def counted(*args, **kwargs):
        produced[0] += 1
        return send_block(*args, **kwargs)

    producer.send_block = counted  # the poll stops at `last` (batches of `batch` blocks) even below the head
    try:
        started = time.perf_counter()
        result = ingest.poll(should_stop=lambda: produced[0] >= wanted)
        elapsed = time.perf_counter() - started
    finally:
        producer.close()
    if result.error or result.blocks < wanted:
        raise RuntimeError(f"ingest published {result.blocks} of {wanted} blocks: {result.error}")
    return elapsed, result.blocks


def count_events(url: str, first: int, last: int, batch: int) -> int:
    reader = RpcChainReader(JsonRpcClient([url]))
    total = 0
    for start in range(first, min(last, first + 4 * batch - 1) + 1, batch):
        for block in reader.blocks(start, min(last, start + batch - 1)):
            total += len(block_events(CHAIN_ID, block))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--transactions", type=int, default=100)
    parser.add_argument("--batch", type=int, default=25, help="blocks per batch (the chain default)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating (fetch, ingest) rounds; best counts")
    parser.add_argument("--trace-blocks", type=int, default=400, help="blocks ingested with and without traces")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        logs = Path(tmp)
        node = start_anvil(logs)
        try:
            filler = ChainFiller(node.url)
            filler.setup()
            started = time.perf_counter()
            first = filler.head() + 1
            for _ in range(options.blocks):
                filler.fill_block(options.transactions)
            last = filler.head()
            generation = time.perf_counter() - started
            sample_events = count_events(node.url, first, last, options.batch)
            sample_blocks = min(last - first + 1, 4 * options.batch)
            with common.moto_server(logs), common.tansu_server(logs) as bootstrap:
                fetches, ingests = [], []
                fetch_only(node.url, first, min(last, first + options.batch - 1), options.batch)  # warm up
                for _ in range(options.rounds):
                    fetch_seconds, blocks, transactions = fetch_only(node.url, first, last, options.batch)
                    fetches.append(fetch_seconds)
                    ingest_seconds, _ = ingest_once(node.url, bootstrap, first, last, options.batch)
                    ingests.append(ingest_seconds)
                traced_last = min(last, first + options.trace_blocks // options.batch * options.batch - 1)
                traced_blocks = traced_last - first + 1
                plain_seconds, _ = ingest_once(node.url, bootstrap, first, traced_last, options.batch)
                traced_seconds, _ = ingest_once(node.url, bootstrap, first, traced_last, options.batch, "parity")
                fetch_traced_seconds, _, _ = fetch_only(node.url, first, traced_last, options.batch, "parity")
        finally:
            node.stop()

    fetch, ingest = min(fetches), min(ingests)
    events_per_block = sample_events / sample_blocks
    result = {
        "what": "catch up the same Anvil blocks: fetch-only (RpcChainReader.blocks, batched JSON-RPC) vs "
                "ChainIngest.poll (fetch, events, encode, produce to Tansu with acks=all, flush, checkpoint "
                "in moto); best of alternating rounds",
        "blocks": blocks,
        "transactions": transactions,
        "events_per_block": round(events_per_block, 1),
        "batch_blocks": options.batch,
        "generation_seconds": round(generation, 1),
        "fetch_only_seconds": [round(s, 2) for s in fetches],
        "ingest_seconds": [round(s, 2) for s in ingests],
        "fetch_only_blocks_per_second": round(blocks / fetch, 1),
        "ingest_blocks_per_second": round(blocks / ingest, 1),
        "ingest_events_per_second": round(blocks * events_per_block / ingest),
        "ratio_ingest_over_fetch": round(ingest / fetch, 3),
        "target_ratio": 1.3,
        "meets_target": ingest / fetch <= 1.3,
        "tracing": {
            "what": "the same blocks ingested with traces off, then with trace_block (Parity format, what ingest picks on a node that serves it, "
                    "in the same batched request), one after the other; and fetched with traces",
            "blocks": traced_blocks,
            "ingest_without_traces_blocks_per_second": round(traced_blocks / plain_seconds, 1),
            "ingest_with_traces_blocks_per_second": round(traced_blocks / traced_seconds, 1),
            "fetch_with_traces_blocks_per_second": round(traced_blocks / fetch_traced_seconds, 1),
            "traced_over_untraced_time": round(traced_seconds / plain_seconds, 2),
            "traced_ingest_over_traced_fetch_time": round(traced_seconds / fetch_traced_seconds, 2),
        },
    }
    path = common.write_result("ingest", result)
    print(f"fetch-only {fetch:.2f}s, ingest {ingest:.2f}s, ratio {ingest / fetch:.2f} "
          f"({blocks} blocks, {transactions} txs); wrote {path}")


if __name__ == "__main__":
    main()
