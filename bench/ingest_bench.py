"""Ingest against the node's real limit, at 0 ms and at 50 ms of round-trip latency.

An Anvil (`--no-mining`, impersonated senders: see chain_fixture.py) is filled with --blocks blocks of
--transactions transactions (70% ERC-20 transfers), then --mainnet-blocks mainnet-shaped blocks
(200 transactions, 600 logs). Side by side in this run:
  limit: fetch-only, RpcChainReader.blocks in batches of `--batch` blocks (one batched JSON-RPC request
         each: eth_getBlockByNumber with transactions + eth_getBlockReceipts), k requests in flight,
         consumed in order, nothing else; k swept over --sweep on the first --sweep-blocks blocks, the
         best k is the limit's;
  ingest: ChainIngest.poll catching up the same blocks into a real Tansu broker (acks=all, flush)
          with its checkpoint in moto, `max_requests_in_flight` = the best k.
Then --rounds times, ingest and the limit one after the other on all the blocks; the best run of each is
its figure (a shared machine's quiet moments are as likely to fall on either side).
Both directly and through a proxy that adds 50 ms of round-trip latency (latency_proxy.py), as a
hosted provider answers. Then with call traces (trace_block in the same batches): a traced limit
(the same sweep, fetching traces) and traced ingest. Then a backfill job of one monitor over the
mainnet-shaped blocks (BackfillRunner steps inside run_ingest, live polls between them, as the
ingest function runs it) against the limit on those blocks. Ratios = ingest blocks/s / limit blocks/s.
Lambda cost: the ingest function's 1024 MB x the seconds ingest took, per million events.

    .venv/bin/python bench/ingest_bench.py [--blocks 600] [--mainnet-blocks 200] [--sweep 1,2,4,8] [--rounds 2]
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


def fetch_only(url: str, first: int, last: int, batch: int, in_flight: int,
               traces: str | None = None) -> tuple[float, float]:
    """Seconds (and CPU seconds of this process) to fetch first..last with `in_flight` batched requests at
    once, taken in order."""
    reader = RpcChainReader(JsonRpcClient([url], timeout=RPC_TIMEOUT), traces)
    ranges = deque((start, min(last, start + batch - 1)) for start in range(first, last + 1, batch))
    started, cpu_before = time.perf_counter(), time.process_time()
    fetched = 0
    with ThreadPoolExecutor(in_flight) as pool:
        pending = deque()
        while ranges or pending:
            while ranges and len(pending) < in_flight:
                pending.append(pool.submit(reader.blocks, *ranges.popleft()))
            fetched += len(pending.popleft().result())
    if fetched != last - first + 1:
        raise RuntimeError(f"fetched {fetched} of {last - first + 1} blocks")
    return time.perf_counter() - started, time.process_time() - cpu_before


# The servers' processes by role, found among this process's descendants by their command line; their
# CPU is read from /proc around each run (Linux): what the node, the broker and the AWS stand-in spent.
ROLES = {"node": "anvil", "broker": "tansu", "aws": "aws_server", "proxy": "latency_proxy"}


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *_descendants(int(child))]
    return found


def servers_cpu() -> dict[str, float]:
    """CPU seconds so far of the servers' processes, by role."""
    hertz, spent = os.sysconf("SC_CLK_TCK"), {}
    for pid in _descendants(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        role = next((role for role, mark in ROLES.items() if mark in command), None)
        if role is not None:
            spent[role] = spent.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / hertz
    return spent


def _spent(before: dict[str, float]) -> dict[str, float]:
    after = servers_cpu()
    return {role: after[role] - before.get(role, 0.0) for role in after}


def sweep(url: str, first: int, last: int, batch: int, ks: list[int], traces: str | None = None) -> dict:
    """Fetch-only over first..last once for each k in flight: the best k."""
    blocks = last - first + 1
    per_k = {k: round(blocks / fetch_only(url, first, last, batch, k, traces)[0], 1) for k in ks}
    best = max(per_k, key=per_k.get)
    return {"blocks_per_second_by_in_flight": per_k, "best_in_flight": best, "blocks": blocks}


def limit_once(url: str, first: int, last: int, batch: int, in_flight: int, traces: str | None = None) -> dict:
    before = servers_cpu()
    seconds, cpu = fetch_only(url, first, last, batch, in_flight, traces)
    return {"seconds": seconds, "blocks": last - first + 1, "cpu_seconds": cpu, "servers_cpu_seconds": _spent(before)}


def side_by_side(url: str, first: int, last: int, batch: int, ks: list[int], sweep_blocks: int, rounds: int,
                 run_ingest_with, traces: str | None = None) -> tuple[dict, dict]:
    """The sweep on the first `sweep_blocks` blocks picks k; then `rounds` times, ingest with k and the
    fetch-only limit with k, one after the other on the same blocks. The best run of each is its figure,
    so both sides get the same number of tries at a quiet moment of a shared machine."""
    picked = sweep(url, first, min(last, first + sweep_blocks - 1), batch, ks, traces)
    k = picked["best_in_flight"]
    limits, ingests = [], []
    for _ in range(rounds):
        ingests.append(run_ingest_with(k))
        limits.append(limit_once(url, first, last, batch, k, traces))
    return {**picked, "runs": limits}, {"runs": ingests}


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
        started, cpu_before, servers_before = time.perf_counter(), time.process_time(), servers_cpu()
        result = ingest.poll()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        servers = _spent(servers_before)
    finally:
        producer.close()
    if result.error or result.blocks < wanted:
        raise RuntimeError(f"ingest published {result.blocks} of {wanted} blocks: {result.error}")
    return {"seconds": seconds, "blocks": result.blocks, "events": counts["live_events"], "cpu_seconds": cpu,
            "servers_cpu_seconds": servers}


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
        started, cpu_before, servers_before = time.perf_counter(), time.process_time(), servers_cpu()
        run_ingest([ingest], should_stop=lambda: counts.get("backfill", 0) >= wanted,
                   backfills=BackfillRunner([ingest]))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        servers = _spent(servers_before)
    finally:
        producer.close()
    if counts.get("backfill", 0) != wanted:
        raise RuntimeError(f"backfill published {counts.get('backfill', 0)} of {wanted} blocks")
    return {"seconds": seconds, "blocks": wanted, "events": counts["backfill_events"], "cpu_seconds": cpu,
            "servers_cpu_seconds": servers}


def _rate(run: dict) -> float:
    return run["blocks"] / run["seconds"]


def figures(name: str, limit: dict, ingest: dict) -> dict:
    """Ingest against its limit (the best run of each), and ingest's Lambda cost."""
    best_limit = max(limit["runs"], key=_rate)
    run = max(ingest["runs"], key=_rate)
    limit_rate, rate = _rate(best_limit), _rate(run)
    print(f"{name}: ingest {rate:.1f} blocks/s, limit {limit_rate:.1f} (k={limit['best_in_flight']}; sweep "
          f"{limit['blocks_per_second_by_in_flight']}), ratio {rate / limit_rate:.3f}", flush=True)
    return {
        "limit_blocks_per_second": round(limit_rate, 1),
        "limit_in_flight": limit["best_in_flight"],
        "limit_sweep": limit["blocks_per_second_by_in_flight"],
        "limit_sweep_blocks": limit["blocks"],
        "blocks_per_second": round(rate, 1),
        "events_per_second": round(run["events"] / run["seconds"]),
        "ratio_to_limit": round(rate / limit_rate, 3),
        # Every run, in the order they ran (ingest first in each round), blocks/s.
        "runs_blocks_per_second": {"limit": [round(_rate(r), 1) for r in limit["runs"]],
                                   "ingest": [round(_rate(r), 1) for r in ingest["runs"]]},
        "seconds": round(run["seconds"], 2),
        "blocks": run["blocks"],
        "events": run["events"],
        # CPU of this process (all its threads) per block: the limit's is reading and parsing the answers;
        # ingest adds events, encoding, the Kafka client and the checkpoint's botocore calls.
        "cpu_ms_per_block": {"limit": round(best_limit["cpu_seconds"] / best_limit["blocks"] * 1000, 1),
                             "ingest": round(run["cpu_seconds"] / run["blocks"] * 1000, 1)},
        # And of the servers, by role, in the same two runs: the node's share of the same cores.
        "servers_cpu_ms_per_block": {
            "limit": {role: round(spent / best_limit["blocks"] * 1000, 1)
                      for role, spent in sorted(best_limit["servers_cpu_seconds"].items())},
            "ingest": {role: round(spent / run["blocks"] * 1000, 1)
                       for role, spent in sorted(run["servers_cpu_seconds"].items())},
        },  # fmt: skip
        "lambda_gb_seconds_per_million_events": round(INGEST_MEMORY_GB * run["seconds"] / run["events"] * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=600)
    parser.add_argument("--transactions", type=int, default=100)
    parser.add_argument("--mainnet-blocks", type=int, default=200, help="mainnet-shaped blocks for the backfill")
    parser.add_argument("--trace-blocks", type=int, default=300, help="blocks fetched and ingested with traces")
    parser.add_argument("--batch", type=int, default=25, help="blocks per batch (the chain default)")
    parser.add_argument("--sweep", default="1,2,4,8", help="requests in flight tried for the limit")
    parser.add_argument("--latency", type=float, default=0.05, help="round trip added by the proxy, seconds")
    parser.add_argument("--sweep-blocks", type=int, default=200, help="blocks each sweep run fetches (k is picked)")
    parser.add_argument("--mainnet-sweep-blocks", type=int, default=50, help="the same, mainnet-shaped blocks")
    parser.add_argument("--rounds", type=int, default=2, help="ingest and limit runs, alternately, at the picked k")
    options = parser.parse_args()
    ks = [int(k) for k in options.sweep.split(",")]
    latency_key = f"{round(options.latency * 1000)}ms"
    load_at_start = [round(x, 2) for x in os.getloadavg()]

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
                # The ingest function's garbage collection (functions/ingest/handler.py), for both sides.
                from blockhook.ingest.service import settle_heap

                settle_heap()

                def measure(name: str, url: str, start: int, end: int, ingest_with, traces: str | None = None,
                            sweep_blocks: int = options.sweep_blocks) -> dict:  # fmt: skip
                    limit, ingest = side_by_side(url, start, end, options.batch, ks, sweep_blocks, options.rounds,
                                                 ingest_with, traces)  # fmt: skip
                    return figures(name, limit, ingest)

                runs = {"0ms": measure("0 ms", node.url, first, last, lambda k: ingest_once(
                    node.url, bootstrap, first, last, options.batch, k))}
                with LatencyProxy(upstream.hostname, upstream.port, options.latency) as proxy:
                    runs[latency_key] = measure("latency", proxy.url, first, last, lambda k: ingest_once(
                        proxy.url, bootstrap, first, last, options.batch, k))
                traced = measure("traces", node.url, first, traced_last, lambda k: ingest_once(
                    node.url, bootstrap, first, traced_last, options.batch, k, "parity"), "parity")
                backfill = measure("backfill", node.url, mainnet_first, mainnet_last, lambda k: backfill_once(
                    node.url, bootstrap, mainnet_first, mainnet_last, options.batch, k),
                    sweep_blocks=options.mainnet_sweep_blocks)
        finally:
            node.stop()

    result = {
        "what": "catch up the same Anvil blocks (impersonated senders): the limit = fetch-only (batched "
                "RpcChainReader.blocks, k requests in flight; k picked by a sweep on the first blocks) against "
                "ChainIngest.poll (events, encoding, produce to Tansu acks=all, flush, checkpoint in moto) with "
                "max_requests_in_flight = that k, run alternately `rounds` times each, the best run of each "
                "compared; directly and through a proxy process adding round-trip latency; with traces; and a "
                "backfill job over mainnet-shaped blocks through BackfillRunner in run_ingest",
        "blocks": options.blocks,
        "rounds": options.rounds,
        "load_average_at_start": load_at_start,
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
