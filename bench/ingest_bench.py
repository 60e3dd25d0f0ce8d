"""Ingest against the node's real limit, at 0 ms and at 50 ms of round-trip latency.

An Anvil (`--no-mining`, impersonated senders: see chain_fixture.py) is filled with --blocks blocks of
--transactions transactions (70% ERC-20 transfers), then --mainnet-blocks mainnet-shaped blocks
(200 transactions, 600 logs). Side by side in this run:
  limit: fetch-only, RpcChainReader.blocks in batches of `--batch` blocks (one batched JSON-RPC request
         each: eth_getBlockByNumber with transactions + eth_getBlockReceipts), k requests in flight,
         consumed in order, nothing else; swept over k = --sweep, the best k is the limit;
  ingest: ChainIngest.poll catching up the same blocks into a real Tansu broker (acks=all, flush)
          with its checkpoint in moto, `max_requests_in_flight` = the best k.
Both directly and through a proxy that adds 50 ms of round-trip latency (latency_proxy.py), as a
hosted provider answers. Then with call traces (trace_block in the same batches): a traced limit
(the same sweep, fetching traces) and traced ingest. Then a backfill job of one monitor over the
mainnet-shaped blocks (BackfillRunner steps inside run_ingest, live polls between them, as the
ingest function runs it) against the limit on those blocks. Ratios = ingest blocks/s / limit blocks/s.
Lambda cost: the ingest function's 1024 MB x the seconds ingest took, per million events.

    .venv/bin/python bench/ingest_bench.py [--blocks 300] [--mainnet-blocks 200] [--sweep 1,2,4,8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import common
from chain_fixture import ChainFiller, start_anvil
from latency_proxy import LatencyProxy

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient

CHAIN_ID = 31337
INGEST_MEMORY_GB = 1.0  # the ingest function's memory (infra: 1024 MB)
TARGET_INGEST = 0.9
TARGET_BACKFILL = 0.8
# Generous for a batch of 25 mainnet-shaped blocks with 8 in flight on a loaded 2-core machine; the
# same for the limit and for ingest, so a request that is slow is slow for both.
RPC_TIMEOUT = 30.0


def fetch_only(url: str, first: int, last: int, batch: int, in_flight: int, traces: str | None = None) -> float:
    """Seconds to fetch first..last with `in_flight` batched requests at once, taken in order."""
    reader = RpcChainReader(JsonRpcClient([url], timeout=RPC_TIMEOUT), traces)
    ranges = deque((start, min(last, start + batch - 1)) for start in range(first, last + 1, batch))
    started = time.perf_counter()
    fetched = 0
    with ThreadPoolExecutor(in_flight) as pool:
        pending = deque()
        while ranges or pending:
            while ranges and len(pending) < in_flight:
                pending.append(pool.submit(reader.blocks, *ranges.popleft()))
            fetched += len(pending.popleft().result())
    if fetched != last - first + 1:
        raise RuntimeError(f"fetched {fetched} of {last - first + 1} blocks")
    return time.perf_counter() - started


def sweep(url: str, first: int, last: int, batch: int, ks: list[int], traces: str | None = None) -> dict:
    blocks = last - first + 1
    per_k, cpu = {}, {}
    for k in ks:
        cpu_before = time.process_time()
        per_k[k] = round(blocks / fetch_only(url, first, last, batch, k, traces), 1)
        cpu[k] = time.process_time() - cpu_before
    best = max(per_k, key=per_k.get)
    return {"blocks_per_second_by_in_flight": per_k, "best_in_flight": best, "blocks_per_second": per_k[best],
            "cpu_ms_per_block": round(cpu[best] / blocks * 1000, 1)}


def _fresh_chain() -> None:
    from blockhook.store.models import ChainStateModel

    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{CHAIN_ID}").delete()


class _HeadAt(RpcChainReader):
    """A node whose head is `last`: ingest catches up exactly the measured range (with the real head,
    it would also fetch ahead past it, into blocks the limit does not fetch)."""

    def __init__(self, client: JsonRpcClient, last: int | None) -> None:
        super().__init__(client)
        self.last = last

    def head(self) -> int:
        head = super().head()
        return head if self.last is None else min(head, self.last)


def _ingest(url: str, bootstrap: str, start: int, batch: int, in_flight: int, traces: str = "off",
            last: int | None = None):
    from blockhook.ingest.service import ChainIngest
    from blockhook.streaming.producer import BlockProducer, ensure_topic

    topic = "bench-blocks-" + uuid.uuid4().hex[:8]
    ensure_topic(bootstrap, topic, partitions=1)
    producer = BlockProducer(bootstrap, topic)
    config = ChainConfig(chain_id=CHAIN_ID, rpc_urls=[url], start_block=start, max_blocks_per_batch=batch,
                         max_requests_in_flight=in_flight, traces=traces)
    return ChainIngest(config, _HeadAt(JsonRpcClient([url], timeout=RPC_TIMEOUT), last), producer), producer


def _counting(producer, counts: dict) -> None:
    send_block = producer.send_block

    def counted(header, events, **kwargs):
        kind = "backfill" if kwargs.get("backfill") is not None else "live"
        counts[kind] = counts.get(kind, 0) + 1
        counts[kind + "_events"] = counts.get(kind + "_events", 0) + len(events)
        return send_block(header, events, **kwargs)

    producer.send_block = counted


def ingest_once(url: str, bootstrap: str, first: int, last: int, batch: int, in_flight: int,
                traces: str = "off") -> dict:
    _fresh_chain()
    ingest, producer = _ingest(url, bootstrap, first, batch, in_flight, traces, last)
    counts: dict = {}
    _counting(producer, counts)
    wanted = last - first + 1
    try:
        started, cpu_before = time.perf_counter(), time.process_time()
        result = ingest.poll()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        producer.close()
    if result.error or result.blocks < wanted:
        raise RuntimeError(f"ingest published {result.blocks} of {wanted} blocks: {result.error}")
    return {"seconds": seconds, "blocks": result.blocks, "events": counts["live_events"], "cpu_seconds": cpu}


def backfill_once(url: str, bootstrap: str, first: int, last: int, batch: int, in_flight: int) -> dict:
    """A backfill of first..last for one monitor, run as the ingest function runs it: run_ingest polls
    the chain (at its head) and runs a backfill step after each poll until the job is done."""
    from blockhook.ingest.backfill import BackfillRunner
    from blockhook.ingest.service import run_ingest
    from blockhook.store.backfills import start_backfill
    from tests.support.builders import create_monitor, new_address

    _fresh_chain()
    head = int(JsonRpcClient([url]).call("eth_blockNumber", []), 16)
    ingest, producer = _ingest(url, bootstrap, head, batch, in_flight)
    monitor = create_monitor("bench-tenant", CHAIN_ID, ["erc20_transfer"], [(new_address(), None)])
    start_backfill(monitor, CHAIN_ID, first, last)
    counts: dict = {}
    _counting(producer, counts)
    wanted = last - first + 1
    try:
        started, cpu_before = time.perf_counter(), time.process_time()
        run_ingest([ingest], should_stop=lambda: counts.get("backfill", 0) >= wanted,
                   backfills=BackfillRunner([ingest]).step)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        producer.close()
    if counts.get("backfill", 0) != wanted:
        raise RuntimeError(f"backfill published {counts.get('backfill', 0)} of {wanted} blocks")
    return {"seconds": seconds, "blocks": wanted, "events": counts["backfill_events"], "cpu_seconds": cpu}


def figures(name: str, limit: dict, run: dict) -> dict:
    """The ingest run against its limit, and its Lambda cost."""
    blocks_per_second = run["blocks"] / run["seconds"]
    print(f"{name}: ingest {blocks_per_second:.1f} blocks/s, limit {limit['blocks_per_second']} "
          f"(k={limit['best_in_flight']}; {limit['blocks_per_second_by_in_flight']}), "
          f"ratio {blocks_per_second / limit['blocks_per_second']:.3f}", flush=True)
    return {
        "limit_blocks_per_second": limit["blocks_per_second"],
        "limit_in_flight": limit["best_in_flight"],
        "limit_sweep": limit["blocks_per_second_by_in_flight"],
        "blocks_per_second": round(blocks_per_second, 1),
        "events_per_second": round(run["events"] / run["seconds"]),
        "ratio_to_limit": round(blocks_per_second / limit["blocks_per_second"], 3),
        "seconds": round(run["seconds"], 2),
        "blocks": run["blocks"],
        "events": run["events"],
        # CPU of this process (all its threads) per block: the limit's is parsing the answers; ingest adds
        # events, encoding, the Kafka client and the checkpoint's botocore calls.
        "cpu_ms_per_block": {"limit": limit["cpu_ms_per_block"], "ingest": round(run["cpu_seconds"] / run["blocks"] * 1000, 1)},
        "lambda_gb_seconds_per_million_events": round(INGEST_MEMORY_GB * run["seconds"] / run["events"] * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=300)
    parser.add_argument("--transactions", type=int, default=100)
    parser.add_argument("--mainnet-blocks", type=int, default=200, help="mainnet-shaped blocks for the backfill")
    parser.add_argument("--trace-blocks", type=int, default=150, help="blocks fetched and ingested with traces")
    parser.add_argument("--batch", type=int, default=25, help="blocks per batch (the chain default)")
    parser.add_argument("--sweep", default="1,2,4,8", help="requests in flight tried for the limit")
    parser.add_argument("--latency", type=float, default=0.05, help="round trip added by the proxy, seconds")
    options = parser.parse_args()
    ks = [int(k) for k in options.sweep.split(",")]

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
            mainnet_first = last + 1
            for _ in range(options.mainnet_blocks):
                filler.fill_mainnet_block()
            mainnet_last = filler.head()
            generation = time.perf_counter() - started
            print(f"chain of {options.blocks} + {options.mainnet_blocks} blocks in {generation:.0f} s", flush=True)
            traced_last = min(last, first + options.trace_blocks - 1)
            upstream = urlsplit(node.url)
            with common.moto_server(logs), common.tansu_server(logs) as bootstrap:
                fetch_only(node.url, first, min(last, first + options.batch - 1), options.batch, 1)  # warm up
                runs = {}
                limit = sweep(node.url, first, last, options.batch, ks)
                run = ingest_once(node.url, bootstrap, first, last, options.batch, limit["best_in_flight"])
                runs["0ms"] = figures("0 ms", limit, run)
                with LatencyProxy(upstream.hostname, upstream.port, options.latency) as proxy:
                    limit = sweep(proxy.url, first, last, options.batch, ks)
                    run = ingest_once(proxy.url, bootstrap, first, last, options.batch, limit["best_in_flight"])
                    runs[f"{round(options.latency * 1000)}ms"] = figures("latency", limit, run)
                limit = sweep(node.url, first, traced_last, options.batch, ks, "parity")
                run = ingest_once(node.url, bootstrap, first, traced_last, options.batch, limit["best_in_flight"],
                                  "parity")
                traced = figures("traces", limit, run)
                limit = sweep(node.url, mainnet_first, mainnet_last, options.batch, ks)
                run = backfill_once(node.url, bootstrap, mainnet_first, mainnet_last, options.batch,
                                    limit["best_in_flight"])
                backfill = figures("backfill", limit, run)
        finally:
            node.stop()

    latency_key = f"{round(options.latency * 1000)}ms"
    result = {
        "what": "catch up the same Anvil blocks (impersonated senders): the limit = fetch-only (batched "
                "RpcChainReader.blocks, k requests in flight, best k of the sweep) against ChainIngest.poll "
                "(events, encoding, produce to Tansu acks=all, flush, checkpoint in moto) with "
                "max_requests_in_flight = that k; directly and through a proxy adding round-trip latency; with "
                "traces; and a backfill job over mainnet-shaped blocks through BackfillRunner in run_ingest",
        "blocks": options.blocks,
        "transactions_per_block": options.transactions,
        "batch_blocks": options.batch,
        "generation_seconds": round(generation, 1),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "at_0ms": runs["0ms"],
        "at_latency": {"round_trip_ms": round(options.latency * 1000), **runs[latency_key]},
        "with_traces": {"trace_format": "parity", **traced},
        "backfill_mainnet_shaped": {"transactions_per_block": 200, "logs_per_block": 600, **backfill},
        "targets": {"ingest_ratio": TARGET_INGEST, "traced_ratio": TARGET_INGEST, "backfill_ratio": TARGET_BACKFILL},
        "meets_target": {
            "ingest_0ms": runs["0ms"]["ratio_to_limit"] >= TARGET_INGEST,
            "ingest_latency": runs[latency_key]["ratio_to_limit"] >= TARGET_INGEST,
            "with_traces": traced["ratio_to_limit"] >= TARGET_INGEST,
            "backfill": backfill["ratio_to_limit"] >= TARGET_BACKFILL,
        },
    }
    path = common.write_result("ingest", result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
