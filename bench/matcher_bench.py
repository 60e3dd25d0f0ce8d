"""Matcher throughput at exchange scale (issue 7, item 2).

1. In memory, one core: 1,000,000 watched addresses across 10,000 monitors (100 each, 10% of
   them with a CEL condition), synthetic mainnet-shaped blocks (bench/synthetic.py) with 0.1%
   of the events matching. The WatchIndex's fields are built directly (no DynamoDB for a million
   addresses); the timed code is what MatchService._match runs per block: the prefilter
   (WatchIndex.candidates), the watchers of the candidates (a dict here, DynamoDB Queries in
   production, counted in part 2) and match_events.
2. Peak memory of that index, in a child process (ru_maxrss and tracemalloc).
3. A full MatchService batch against a moto server (DynamoDB + SQS) with a small index,
   counting every AWS round trip, at several match rates and batch sizes: the round trips
   follow the blocks and the matches, not the events.

    .venv/bin/python bench/matcher_bench.py [--addresses 1000000] [--monitors 10000] [--blocks 100]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import common
from synthetic import make_block

from blockhook.matching.conditions import cached_condition
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import MonitorView, Watcher, match_events

CHAIN_ID = 1
MATCH_SHARE = 0.001
ERC20_SHARE = 200 * 3 * 0.7 / (200 * 1.3 + 600 + 200 * 3 * 0.7)  # of a synthetic block's events
KINDS = frozenset({"transaction", "native_transfer", "erc20_transfer"})


def watched_address(monitor: int, n: int) -> str:
    # The monitor's number in the last 8 hex digits, so the benchmark knows who watches what
    # without a second million-entry map; the rest looks random.
    return "0x" + random.Random(monitor * 1_000_003 + n).getrandbits(128).to_bytes(16, "big").hex() + f"{monitor:08x}"


def build_index(monitors: int, addresses: int) -> WatchIndex:
    per_monitor = addresses // monitors
    condition = cached_condition("event.value > 0")
    index = WatchIndex()
    index.monitors = {
        f"mon{m:08x}": MonitorView(
            monitor_id=f"mon{m:08x}", tenant_id=f"tenant{m % 100}", chain_ids=frozenset({CHAIN_ID}), kinds=KINDS,
            confirmations=0, condition=condition if m % 10 == 0 else None,
        )
        for m in range(monitors)
    }
    index.prefilter = frozenset(watched_address(m, n) for m in range(monitors) for n in range(per_monitor))
    index.all_address_monitors = []
    index.version = 1
    return index


def watchers_in_memory(candidates) -> dict[str, list[Watcher]]:
    """Stands in for the DynamoDB look-up of the candidates (store.monitors.watchers_of)."""
    return {address: [Watcher(f"mon{address[-8:]}", None)] for address in candidates}


def planted_blocks(rng: random.Random, count: int, monitors: int, per_monitor: int, share: float):
    erc20_per_block = 200 * 3 * 0.7
    events_per_block = 200 * 1.3 + 600 + erc20_per_block
    chance = share * events_per_block / erc20_per_block

    def planted():
        if rng.random() < chance:
            return watched_address(rng.randrange(monitors), rng.randrange(per_monitor))
        return None

    return [make_block(rng, CHAIN_ID, 20_000_000 + n, planted) for n in range(count)]


def match_blocks(index: WatchIndex, blocks) -> int:
    matched = 0
    for _, events in blocks:
        candidates = index.candidates(events)
        watchers = watchers_in_memory(candidates) if candidates else {}
        matched += len(match_events(events, index.monitors, watchers, index.all_address_monitors))
    return matched


def throughput(options) -> dict:
    rng = random.Random(7)
    started = time.perf_counter()
    index = build_index(options.monitors, options.addresses)
    build_seconds = time.perf_counter() - started
    blocks = planted_blocks(rng, options.blocks, options.monitors, options.addresses // options.monitors, MATCH_SHARE)
    events = sum(len(e) for _, e in blocks)
    matching_events = sum(1 for _, es in blocks for e in es if any(
        p in index.prefilter for p in (e.get("from"), e.get("to"), e.get("address"))))
    runs = []
    for _ in range(options.repeat):
        started = time.perf_counter()
        matches = match_blocks(index, blocks)
        runs.append(time.perf_counter() - started)
    # The prefilter alone, and a block with no watched address at all, for the breakdown.
    started = time.perf_counter()
    for _, block_events in blocks:
        index.candidates(block_events)
    prefilter_seconds = time.perf_counter() - started
    best = min(runs)
    return {
        "addresses": len(index.prefilter),
        "monitors": len(index.monitors),
        "blocks": len(blocks),
        "events": events,
        "events_per_block": round(events / len(blocks), 1),
        "matching_events": matching_events,
        "matching_share": round(matching_events / events, 5),
        "matches": matches,
        "index_build_seconds": round(build_seconds, 2),
        "seconds": [round(s, 3) for s in runs],
        "events_per_second": round(events / best),
        "prefilter_only_events_per_second": round(events / prefilter_seconds),
        "target_events_per_second": 200_000,
        "meets_target": events / best >= 200_000,
    }


def _peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from the parent over fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(monitors: int, addresses: int, traced: bool) -> None:
    """In a fresh process: the peak resident set with the index built, or (traced) the bytes
    Python allocates for it (tracemalloc's own bookkeeping inflates the RSS, hence two runs)."""
    before = _peak_rss_kb()
    if traced:
        tracemalloc.start()
    index = build_index(monitors, addresses)
    found = {"addresses": len(index.prefilter), "rss_before_index_mb": round(before / 1024, 1),
             "process_peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}
    if traced:
        found = {"index_allocated_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1)}
    print(json.dumps(found))


def memory(options) -> dict:
    found = {}
    for traced in (False, True):
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import matcher_bench; "
                f"matcher_bench.memory_child({options.monitors}, {options.addresses}, {traced})")
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        found.update(json.loads(child.stdout.strip().splitlines()[-1]))
    found["target_mb"] = 512
    found["meets_target"] = found["process_peak_rss_mb"] < 512
    return found


def round_trips(options) -> dict:
    """MatchService.process on encoded blocks, against moto: AWS calls per batch by scenario."""
    import boto3

    from blockhook.delivery.queue import DeliveryQueue
    from blockhook.delivery.service import DeliveryService
    from blockhook.matching.service import MatchService
    from blockhook.store import monitors as monitor_store
    from blockhook.store.secret_box import configured_secret_box
    from blockhook.streaming.codec import BlockHeader, encode_block

    rng = random.Random(11)
    tenant = "tenant_bench_" + uuid.uuid4().hex[:8]
    monitors, per_monitor = 20, 50
    watched: list[str] = []
    for _ in range(monitors):
        addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(per_monitor)]
        watched += addresses
        monitor_store.create_monitor(tenant, {
            "name": "bench", "chain_ids": [CHAIN_ID], "webhook_url": "http://127.0.0.1:9/hook",
            "kinds": sorted(KINDS), "contracts": [], "event_signatures": [], "active": True, "confirmations": 0,
        }, configured_secret_box(), [(address, None) for address in addresses])
    queue = boto3.client("sqs").create_queue(QueueName="bench-" + uuid.uuid4().hex[:8])["QueueUrl"]
    service = MatchService(WatchIndex(), DeliveryService(DeliveryQueue(queue), schedule=(1,), allow_private_webhooks=True,
                                                         box=configured_secret_box()))
    service.process([])  # loads the index (a scan of the address index): not part of a steady batch

    lookups = {"calls": 0, "addresses": 0}
    original = monitor_store.watchers_of

    def spy(addresses):
        addresses = list(addresses)
        lookups["calls"] += 1
        lookups["addresses"] += len(set(addresses))
        return original(addresses)

    number = [30_000_000]
    scenarios = []
    monitor_store.watchers_of = spy
    try:
        for name, blocks, share in (("10 blocks, no match", 10, 0.0), ("10 blocks, 0.1% match", 10, 0.001),
                                    ("10 blocks, 1% match", 10, 0.01), ("40 blocks, 0.1% match", 40, 0.001)):
            values = []
            for _ in range(blocks):
                number[0] += 1
                header, events = make_block(rng, CHAIN_ID, number[0], lambda s=share: (
                    rng.choice(watched) if rng.random() < s / ERC20_SHARE else None))
                values += encode_block(BlockHeader(CHAIN_ID, header["number"], header["hash"], header["parent_hash"],
                                                   header["timestamp"]), events)
            lookups.update(calls=0, addresses=0)
            with common.AwsCallCounter() as counter:
                started = time.perf_counter()
                result = service.process(values)
                seconds = time.perf_counter() - started
            scenarios.append({
                "scenario": name, "blocks": result.blocks, "events": result.events, "matches": result.matches,
                "deliveries": result.deliveries, "candidate_addresses_looked_up": lookups["addresses"],
                "dynamodb_round_trips": counter.total("dynamodb"), "sqs_round_trips": counter.total("sqs"),
                "by_operation": dict(sorted(counter.calls.items())), "seconds": round(seconds, 2),
                "events_per_second": round(result.events / seconds),
            })
    finally:
        monitor_store.watchers_of = original
    return {"index": {"monitors": monitors, "addresses": len(watched)}, "scenarios": scenarios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-moto", action="store_true")
    options = parser.parse_args()

    result = {"what": "events/s through the matching code (prefilter + candidate watchers + match_events) "
                      "on one core; peak memory of the index; AWS round trips of full MatchService batches",
              "memory": memory(options)}
    result["throughput"] = throughput(options)
    if not options.skip_moto:
        with tempfile.TemporaryDirectory(prefix="bench-matcher-") as tmp, common.moto_server(Path(tmp)):
            result["round_trips"] = round_trips(options)
    path = common.write_result("matcher", result)
    t, m = result["throughput"], result["memory"]
    print(f"{t['events_per_second']:,} events/s ({t['matching_share']:.3%} matching), "
          f"peak RSS {m['process_peak_rss_mb']} MB with {m['addresses']:,} addresses")
    for row in result.get("round_trips", {}).get("scenarios", []):
        print(f"  {row['scenario']:24} events {row['events']:6} matches {row['matches']:4} "
              f"dynamodb {row['dynamodb_round_trips']:4} sqs {row['sqs_round_trips']:3}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
