"""Matcher throughput at exchange scale.

1. Throughput, one core, with 1,000,000 watched addresses across 10,000 monitors (100 each, one
   in ten with a CEL condition) and synthetic mainnet-shaped blocks (bench/synthetic.py), 0.1%
   of the events matching. The headline figure is the matcher Lambda's own path for one MSK
   batch of 100 block records: `functions/matcher/handler.py:process_batch` on the MSK event
   (base64 record values), so per record the correlation id, `streaming.codec.decode` (JSON
   parse and per-event checks) and `MatchService` (prefilter, candidates' watchers, match_events,
   recording and queueing the matches). The AWS calls are answered in memory by bench/fake_aws.py
   (botocore's `_make_api_call` replaced: pynamodb and our store code still run; the watchers'
   DynamoDB Query is one of them); the WatchIndex is loaded through `WatchIndex.refresh`, the
   code the Lambda runs, from that stand-in. Beside it, on the same blocks: decode alone, decode
   plus `MatchService._match`, `_match` on decoded messages, and the matching code alone with the
   watchers from a dict (the figure this benchmark used to report), and JSON decoders compared.
2. Peak memory (VmHWM) of a fresh process loading that index through `WatchIndex.refresh` (full
   reload), then following 10 changes of 10,000 added addresses each (incremental union).
3. Round trips: full `MatchService.process` batches of encoded blocks against a moto server
   (DynamoDB + SQS), every AWS call counted by operation, at several match rates, batch sizes up
   to the deployed MSK batch size (100 records), and index sizes (1,000 and 100,000 addresses).
4. A pyinstrument profile of one Lambda batch: bench/results/profile_matcher.txt.

    .venv/bin/python bench/matcher_bench.py [--addresses 1000000] [--monitors 10000] [--blocks 100]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import gc
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import common
from fake_aws import FakeAws
from synthetic import make_block

from blockhook.matching.conditions import cached_condition
from blockhook.matching.index import WatchIndex
from blockhook.matching.matcher import MonitorView, Watcher, match_events
from blockhook.streaming.codec import MESSAGE_VERSION, BlockHeader, encode_block
from tests.support.builders import create_monitor, msk_event

CHAIN_ID = 1
MATCH_SHARE = 0.001
ERC20_SHARE = 200 * 3 * 0.7 / (200 * 1.3 + 600 + 200 * 3 * 0.7)  # of a synthetic block's events
KINDS = frozenset({"transaction", "native_transfer", "erc20_transfer"})
CONDITION = "event.value > 0"
MSK_BATCH_SIZE = 100  # infra/blockhook_infra/triggers.py MATCHER_BATCH_SIZE
TARGET = 400_000  # events/s on the Lambda path, version 2 messages
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/000000000000/bench-deliveries"
HERE = Path(__file__).resolve().parent


def watched_address(monitor: int, n: int) -> str:
    # The monitor's number in the last 8 hex digits, so the benchmark knows who watches what
    # without a second million-entry map; the rest looks random.
    return "0x" + random.Random(monitor * 1_000_003 + n).getrandbits(128).to_bytes(16, "big").hex() + f"{monitor:08x}"


def monitor_id(monitor: int) -> str:
    return f"mon{monitor:08x}"


def owner(address: str) -> str:
    return "mon" + address[-8:]


def tenant(monitor: int) -> str:
    return f"tenant{monitor % 100}"


# -- the index, through the code the Lambda runs ------------------------------------------------
def monitor_items(monitors: int, per_monitor: int) -> list[dict]:
    """The monitors as the DynamoDB items a Scan of the monitors table returns."""
    from blockhook.store.models import MonitorModel

    now = int(time.time())
    return [
        MonitorModel(tenant(m), monitor_id(m), name=f"bench {m}", chain_ids=[CHAIN_ID],
                     webhook_url="https://hooks.example.com/blockhook", kinds=sorted(KINDS),
                     condition=CONDITION if m % 10 == 0 else None, confirmations=0, active=True,
                     sealed_secret="sealed:" + "x" * 180, created_at=now, updated_at=now,
                     address_count=per_monitor, version=1).serialize()
        for m in range(monitors)
    ]


def fake_aws(monitors: int, addresses: int) -> FakeAws:
    per_monitor = addresses // monitors

    def every_address():
        return ((watched_address(m, n), monitor_id(m)) for m in range(monitors) for n in range(per_monitor))

    return FakeAws(monitors=monitor_items(monitors, per_monitor), addresses=every_address,
                   owners=lambda address: [(owner(address), tenant(int(address[-8:], 16)))])


def load_index(fake: FakeAws) -> WatchIndex:
    """A WatchIndex filled by its own `refresh` (a full reload: version read, Scan of the address
    index, Scan of the monitors, monitor_view of each) from the stand-in."""
    index = WatchIndex()
    with fake:
        assert index.refresh()
    return index


def build_index(monitors: int, addresses: int) -> WatchIndex:
    """The index's fields set directly (no refresh): for the tests of this benchmark."""
    per_monitor = addresses // monitors
    condition = cached_condition(CONDITION)
    index = WatchIndex()
    index.monitors = {
        monitor_id(m): MonitorView(
            monitor_id=monitor_id(m), tenant_id=tenant(m), chain_ids=frozenset({CHAIN_ID}), kinds=KINDS,
            confirmations=0, condition=condition if m % 10 == 0 else None,
        )
        for m in range(monitors)
    }
    index.prefilter = frozenset(watched_address(m, n) for m in range(monitors) for n in range(per_monitor))
    index.all_address_monitors = []
    index.version = 1
    return index


def watchers_in_memory(candidates) -> dict[str, list[Watcher]]:
    """Stands in for the DynamoDB look-up of the candidates (WatchIndex.watchers) in the pure figure."""
    return {address: [Watcher(owner(address), None)] for address in candidates}


# -- blocks ---------------------------------------------------------------------------------------
def planted_blocks(rng: random.Random, count: int, monitors: int, per_monitor: int, share: float):
    erc20_per_block = 200 * 3 * 0.7
    events_per_block = 200 * 1.3 + 600 + erc20_per_block
    chance = share * events_per_block / erc20_per_block

    def planted():
        if rng.random() < chance:
            return watched_address(rng.randrange(monitors), rng.randrange(per_monitor))
        return None

    return [make_block(rng, CHAIN_ID, 20_000_000 + n, planted) for n in range(count)]


def encoded(blocks, version: int = MESSAGE_VERSION) -> list[bytes]:
    """The blocks as ingest puts them on the topic (version 1: as it did before the address columns)."""
    return [value for header, events in blocks for value in encode_block(
        BlockHeader(CHAIN_ID, header["number"], header["hash"], header["parent_hash"], header["timestamp"]), events,
        version=version)]


def matcher_handler():
    """functions/matcher/handler.py, loaded as the Lambda runtime loads it, its logs at the deployed
    level (INFO, infra/blockhook_infra/functions.py) written to /dev/null."""
    spec = importlib.util.spec_from_file_location("matcher_handler_bench", common.ROOT / "functions/matcher/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.logger.setLevel("INFO")
    for handler in module.logger.handlers:
        handler.setStream(_SINK)
    return module


class CountingService:
    """Hands `process` on to the MatchService and keeps each BatchResult (the handler's answer holds
    only batchItemFailures; its counts go to metrics)."""

    def __init__(self, service) -> None:
        self.service = service
        self.results = []

    def process(self, values):
        result = self.service.process(values)
        self.results.append(result)
        return result


_SINK = open(os.devnull, "w")  # noqa: SIM115 - for the process's lifetime


def invoke(handler, event: dict, service: CountingService) -> dict:
    """One invocation as the Lambda runs it: process_batch, then the metrics flushed (EMF lines on
    stdout, sent to /dev/null here), as `@metrics.log_metrics` does after each invocation."""
    answer = handler.process_batch(event, service)
    metrics = getattr(handler, "metrics", None)
    if metrics is not None:
        with contextlib.redirect_stdout(_SINK):
            metrics.flush_metrics()
    if answer["batchItemFailures"]:
        raise AssertionError(f"records failed: {answer}")
    return answer


def match_service(index: WatchIndex):
    from blockhook.delivery.queue import DeliveryQueue
    from blockhook.delivery.service import DeliveryService
    from blockhook.matching.service import MatchService

    # The box (KMS) signs at delivery time, not when matches are queued: not used here.
    return MatchService(index, DeliveryService(DeliveryQueue(QUEUE_URL), schedule=(1,), allow_private_webhooks=True,
                                               box=None))


def match_blocks(index: WatchIndex, blocks) -> int:
    """The matching code alone on decoded events, the watchers from a dict (the pure figure)."""
    matched = 0
    for _, events in blocks:
        candidates = index.candidates(events)
        watchers = watchers_in_memory(candidates) if candidates else {}
        matched += len(match_events(events, index.monitors, watchers, index.all_address_monitors))
    return matched


def prefilter_blocks(index: WatchIndex, blocks) -> None:
    for _, events in blocks:
        index.candidates(events)


def _best(function, repeat: int) -> tuple[float, list[float], object]:
    runs, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function()
        runs.append(time.perf_counter() - started)
    return min(runs), runs, value


def decoders(values: list[bytes], repeat: int) -> dict:
    """JSON libraries on the block messages (parse only), the per-event checks, and the codec's decode,
    µs per block. Nothing parsed is kept past its block (as in the matcher), so the collector's work
    stays what it is there."""
    import orjson

    from blockhook.streaming import codec

    candidates = {"json.loads": json.loads, "orjson.loads": orjson.loads}
    try:
        import msgspec

        candidates["msgspec.json.decode"] = msgspec.json.decode
        msgspec_version = msgspec.__version__
    except ImportError:
        msgspec_version = None
    candidates["codec.decode (parse + checks)"] = codec.decode

    def each(function):
        def run():
            for value in values:
                function(value)
        return run

    found = {}
    for name, parse in candidates.items():
        seconds, _, _ = _best(each(parse), repeat)
        found[name] = round(seconds / len(values) * 1e6)

    def checks(check_one_by_one: bool) -> float:
        spent = 0.0
        for value in values:
            events = json.loads(value)["events"]
            started = time.perf_counter()
            if check_one_by_one:
                for event in events:
                    codec._check_event(event)
            else:
                codec._check_events(events)
            spent += time.perf_counter() - started
        return spent

    found["checks: codec._check_event on each event (before)"] = round(
        min(checks(True) for _ in range(repeat)) / len(values) * 1e6)
    found["checks: codec._check_events (msgspec.convert)"] = round(
        min(checks(False) for _ in range(repeat)) / len(values) * 1e6)
    return {"us_per_block": found, "message_bytes_per_block": round(sum(map(len, values)) / len(values)),
            "msgspec": msgspec_version or "not installed",
            "orjson_note": "orjson reads integers past 64 bits as floats, json and msgspec exactly"}


def profile_batch(handler, service, event: dict, addresses: int) -> str:
    """pyinstrument call tree of one Lambda batch, written to profile_matcher.txt; its path."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    with profiler:
        invoke(handler, event, service)
    records = sum(len(r) for r in event["records"].values())
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    path = common.RESULTS / "profile_matcher.txt"
    path.write_text(f"== matcher Lambda batch: {records} block records, {addresses:,} addresses ==\n"
                    + profiler.output_text(color=False, show_all=False))
    return common.relative(path)


class GcClock:
    """Time spent in the cyclic garbage collector while it is entered, by generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info) -> None:
        gc.callbacks.remove(self._callback)


def throughput(options) -> dict:
    from blockhook.streaming.codec import Base64Value, correlation_id_of, decode

    rng = random.Random(7)
    per_monitor = options.addresses // options.monitors
    handler = matcher_handler()  # imported first, as at a Lambda's cold start: then the index is loaded
    fake = fake_aws(options.monitors, options.addresses)
    started = time.perf_counter()
    index = load_index(fake)
    load_seconds = time.perf_counter() - started
    blocks = planted_blocks(rng, options.blocks, options.monitors, per_monitor, MATCH_SHARE)
    values = encoded(blocks, version=1)
    values_v2 = encoded(blocks)
    events = sum(len(e) for _, e in blocks)
    matching_events = sum(1 for _, es in blocks for e in es if any(
        p in index.prefilter for p in (e.get("from"), e.get("to"), e.get("address"))))
    # The previous figure first, while the benchmark's own copy of the events exists; then that copy
    # goes, so that the garbage collector walks only what a matcher Lambda holds.
    pure_seconds, _, pure_matches = _best(functools.partial(match_blocks, index, blocks), options.repeat)
    prefilter_seconds, _, _ = _best(functools.partial(prefilter_blocks, index, blocks), 1)
    del blocks
    service = match_service(index)
    counting = CountingService(service)
    batches = [msk_event({0: values[start : start + MSK_BATCH_SIZE]}, first_offset=1000 + start, chain_id=CHAIN_ID)
               for start in range(0, len(values), MSK_BATCH_SIZE)]
    batches_v2 = [msk_event({0: values_v2[start : start + MSK_BATCH_SIZE]}, first_offset=1000 + start,
                            chain_id=CHAIN_ID) for start in range(0, len(values_v2), MSK_BATCH_SIZE)]  # fmt: skip
    records = [r for event in batches for rs in event["records"].values() for r in rs]
    records_v2 = [r["value"] for event in batches_v2 for rs in event["records"].values() for r in rs]
    count = len(values)
    gc.collect()

    def lambda_batches(which=batches):
        counting.results.clear()
        for event in which:
            invoke(handler, event, counting)
        return list(counting.results)

    def floor():
        """The least a reader of version 2 does per record: base64 of the header and reading its address
        column against the prefilter (no correlation id, no event, no DynamoDB)."""
        prefilter = index.prefilter
        return sum(not prefilter.isdisjoint(decode(Base64Value(text), lazy=True).columns.addresses)
                   for text in records_v2)  # fmt: skip

    def stages():
        """Each record through base64, correlation id, decode and MatchService._match, timed apart."""
        spent = [0.0, 0.0, 0.0, 0.0]
        clock = time.perf_counter
        for record in records:
            t0 = clock()
            raw = base64.b64decode(record["value"])
            t1 = clock()
            correlation_id_of(raw)
            t2 = clock()
            message = decode(raw)
            t3 = clock()
            service._match(message)
            t4 = clock()
            spent = [spent[0] + t1 - t0, spent[1] + t2 - t1, spent[2] + t3 - t2, spent[3] + t4 - t3]
        return spent

    with fake:
        invoke(handler, batches[0], counting)  # a warm Lambda: clients made, conditions compiled
        fake.calls.clear()
        with GcClock() as collector:
            lambda_seconds, lambda_runs, results = _best(lambda_batches, options.repeat)
        calls_per_run = {name: count // options.repeat for name, count in sorted(fake.calls.items())}
        assert sum(r.events for r in results) == events, results
        matches = sum(r.matches for r in results)
        # Version 2 (what ingest writes), the same blocks, the floor measured between its runs.
        invoke(handler, batches_v2[0], counting)
        fake.calls.clear()
        v2_runs, floor_runs = [], []
        for _ in range(options.repeat):
            seconds, _, results_v2 = _best(functools.partial(lambda_batches, batches_v2), 1)
            v2_runs.append(seconds)
            floor_runs.append(_best(floor, 1)[0])
        calls_v2 = {name: count // options.repeat for name, count in sorted(fake.calls.items())}
        assert sum(r.events for r in results_v2) == events and sum(r.matches for r in results_v2) == matches, results_v2
        stage_runs = [stages() for _ in range(options.repeat)]
        envelope, correlation, decoding, matching = (min(run[i] for run in stage_runs) for i in range(4))
        decode_match_seconds, _, _ = _best(lambda: [service._match(decode(v)) for v in values], options.repeat)
        profile = profile_batch(handler, counting, batches_v2[0], options.addresses)

    def rate(seconds: float) -> int:
        return round(events / seconds)

    return {
        "addresses": len(index.prefilter),
        "monitors": len(index.monitors),
        "index_loaded_by": "WatchIndex.refresh (full reload) from bench/fake_aws.py",
        "index_load_seconds": round(load_seconds, 1),
        "blocks": count,
        "msk_batches": len(batches),
        "events": events,
        "events_per_block": round(events / count, 1),
        "matching_events": matching_events,
        "matching_share": round(matching_events / events, 5),
        "matches": matches,
        "pure_matches": pure_matches,
        "timed_path": "functions/matcher/handler.py process_batch on MSK events of 100 block records (a warm "
                      "Lambda), then the metrics flush: per record base64, correlation id, codec.decode, "
                      "MatchService (version read, prefilter, watchers_of, match_events, record_match, deliveries); "
                      "the AWS calls answered in memory by bench/fake_aws.py",
        "message_version": MESSAGE_VERSION,
        "seconds": [round(s, 3) for s in v2_runs],
        "events_per_second": rate(statistics.median(v2_runs)),
        "events_per_second_best_run": rate(min(v2_runs)),
        "floor": "per record: base64 of the header of a version 2 message and its address column read "
                 "(codec.decode lazy) and checked against the prefilter; nothing else",
        "floor_seconds": [round(s, 3) for s in floor_runs],
        "floor_events_per_second": rate(statistics.median(floor_runs)),
        "ratio_to_floor": round(statistics.median(floor_runs) / statistics.median(v2_runs), 3),
        "version_1": {"seconds": [round(s, 3) for s in lambda_runs],
                      "events_per_second": rate(statistics.median(lambda_runs)),
                      "aws_calls_per_run": calls_per_run},
        "kafka_bytes_per_event": {"version_1": round(sum(map(len, values)) / events, 1),
                                  "version_2": round(sum(map(len, values_v2)) / events, 1)},
        "kafka_bytes_per_block": {"version_1": round(sum(map(len, values)) / count),
                                  "version_2": round(sum(map(len, values_v2)) / count)},
        "lambda_gb_seconds_per_million_events": {
            "memory_gb": 1.0,  # the matcher's 1024 MB (infra/blockhook_infra/functions.py)
            "version_1": round(1e6 * statistics.median(lambda_runs) / events, 2),
            "version_2": round(1e6 * statistics.median(v2_runs) / events, 2),
        },
        "gc_seconds_per_run": round(sum(collector.seconds) / options.repeat, 3),
        "gc_collections_per_run": [round(n / options.repeat, 1) for n in collector.collections],
        "aws_calls_per_run": calls_v2,
        "events_per_second_by_path": {
            "lambda batch, version 2 (headline, median run)": rate(statistics.median(v2_runs)),
            "floor: base64 of the header + address column (version 2)": rate(statistics.median(floor_runs)),
            "lambda batch, version 1 (median run)": rate(statistics.median(lambda_runs)),
            "codec.decode + MatchService._match (version 1)": rate(decode_match_seconds),
            "MatchService._match on decoded messages": rate(matching),
            "matching code alone, watchers from a dict (previous figure)": rate(pure_seconds),
            "prefilter alone": rate(prefilter_seconds),
        },
        "us_per_block": {
            "lambda batch, version 2, all of it": round(min(v2_runs) / count * 1e6),
            "floor (version 2)": round(min(floor_runs) / count * 1e6),
            "lambda batch, version 1, all of it": round(lambda_seconds / count * 1e6),
            "base64 of the record value (powertools decoded_value)": round(envelope / count * 1e6),
            "correlation_id_of": round(correlation / count * 1e6),
            "codec.decode (version 1)": round(decoding / count * 1e6),
            "MatchService._match": round(matching / count * 1e6),
        },
        "decoders": decoders(values, options.repeat),
        "profile": profile,
        "target_events_per_second": TARGET,
        "meets_target": rate(statistics.median(v2_runs)) >= TARGET,
        "decode_and_match_meets_target_v1": events / decode_match_seconds >= TARGET,
    }


# -- memory ---------------------------------------------------------------------------------------
def _peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from the parent over fork+exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(monitors: int, addresses: int, traced: bool, changes: int = 10, per_change: int = 10_000) -> None:
    """In a fresh process: the peak resident set while WatchIndex.refresh loads the index (full reload),
    then while it follows `changes` changes of `per_change` added addresses each (incremental union);
    or (traced) the bytes Python holds for it (tracemalloc's bookkeeping inflates the RSS: a run of its own)."""
    from blockhook.store.versions import ADDRESS_BYTES

    fake = fake_aws(monitors, addresses)
    before = _peak_rss_kb()
    if traced:
        tracemalloc.start()
    index = load_index(fake)
    after_load = _peak_rss_kb()
    loaded = len(index.prefilter)
    allocated = tracemalloc.get_traced_memory()[0] if traced else 0
    rng = random.Random(3)
    with fake:
        for _ in range(changes):
            added = [bytes.fromhex(f"{rng.getrandbits(160):040x}") for _ in range(per_change)]
            assert all(len(a) == ADDRESS_BYTES for a in added)
            fake.version += 1
            fake.changes[fake.version] = ("{}", b"".join(added))
            assert index.refresh() and index.full_reloads == 1
    if traced:
        print(json.dumps({"index_allocated_mb": round(allocated / 2**20, 1),
                          "index_allocated_after_changes_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 1)}))
        return
    print(json.dumps({"addresses": loaded, "addresses_after_changes": len(index.prefilter),
                      "loaded_by": "WatchIndex.refresh from bench/fake_aws.py: full reload, then "
                                   f"{changes} changes of {per_change:,} added addresses followed incrementally",
                      "rss_before_index_mb": round(before / 1024, 1),
                      "peak_rss_full_reload_mb": round(after_load / 1024, 1),
                      "process_peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}))


def memory(options) -> dict:
    found = {}
    # tracemalloc's run (the bytes Python holds for the index) is by hand only: it doubles the load time.
    for traced in (False, True) if options.traced_memory else (False,):
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import matcher_bench; "
                f"matcher_bench.memory_child({options.monitors}, {options.addresses}, {traced})")
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if child.returncode:
            raise RuntimeError(f"memory child failed:\n{child.stderr[-3000:]}")
        found.update(json.loads(child.stdout.strip().splitlines()[-1]))
    found["target_mb"] = 512
    found["meets_target"] = found["process_peak_rss_mb"] < 512
    return found


# -- round trips ----------------------------------------------------------------------------------
def round_trips(options) -> dict:
    """MatchService.process on encoded blocks, against moto: AWS calls per batch by scenario, with
    1,000 addresses in the index, then with the same 20 monitors grown to `--round-trip-addresses`."""
    import boto3

    from blockhook.delivery.queue import DeliveryQueue
    from blockhook.delivery.service import DeliveryService
    from blockhook.matching.service import MatchService
    from blockhook.store import monitors as monitor_store
    from blockhook.store.secret_box import configured_secret_box

    rng = random.Random(11)
    owner_tenant = "tenant_bench_" + uuid.uuid4().hex[:8]
    monitors, per_monitor = 20, 50
    watched: list[str] = []
    models = []
    for _ in range(monitors):
        addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(per_monitor)]
        watched += addresses
        models.append(create_monitor(owner_tenant, CHAIN_ID, sorted(KINDS), [(a, None) for a in addresses], name="bench"))
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

    def run(name: str, blocks: int, share: float) -> None:
        values = []
        for _ in range(blocks):
            number[0] += 1
            header, events = make_block(rng, CHAIN_ID, number[0], lambda s=share: (
                rng.choice(watched) if rng.random() < s / ERC20_SHARE else None))
            values += encode_block(BlockHeader(CHAIN_ID, header["number"], header["hash"], header["parent_hash"],
                                               header["timestamp"]), events)
        lookups.update(calls=0, addresses=0)
        monitor_store.watchers_of = spy
        try:
            with common.AwsCallCounter() as counter:
                started = time.perf_counter()
                result = service.process(values)
                seconds = time.perf_counter() - started
        finally:
            monitor_store.watchers_of = original
        scenarios.append({
            "scenario": name, "index_addresses": len(service.index.prefilter), "blocks": result.blocks,
            "events": result.events, "matches": result.matches, "deliveries": result.deliveries,
            "candidate_addresses_looked_up": lookups["addresses"],
            "dynamodb_round_trips": counter.total("dynamodb"), "sqs_round_trips": counter.total("sqs"),
            "by_operation": dict(sorted(counter.calls.items())), "seconds_on_moto": round(seconds, 2),
        })

    for name, blocks, share in (("10 blocks, no match", 10, 0.0), ("10 blocks, 0.1% match", 10, 0.001),
                                ("10 blocks, 1% match", 10, 0.01), ("40 blocks, 0.1% match", 40, 0.001),
                                (f"{MSK_BATCH_SIZE} blocks, 0.1% match", MSK_BATCH_SIZE, 0.001)):
        run(name, blocks, share)

    # Grow the same monitors to --round-trip-addresses: address index items written directly (batch
    # writes; the matcher reads no other table for them) and a change record per 10,000 through the
    # store's own bump, so the service follows the changes as the Lambda does, with no full reload.
    from blockhook.store.models import AddressIndexModel
    from blockhook.store.versions import bump_monitors_version

    grow_started = time.perf_counter()
    extra = max(0, options.round_trip_addresses - len(watched)) // monitors
    client = boto3.client("dynamodb")
    added: list[str] = []
    for model in models:
        mine = [f"0x{rng.getrandbits(160):040x}" for _ in range(extra)]
        for start in range(0, len(mine), 25):
            client.batch_write_item(RequestItems={AddressIndexModel.Meta.table_name: [
                {"PutRequest": {"Item": {"address": {"S": address}, "monitor_id": {"S": model.monitor_id},
                                         "tenant_id": {"S": owner_tenant}}}} for address in mine[start : start + 25]]})
        added += mine
    for start in range(0, len(added), 10_000):
        bump_monitors_version({}, added[start : start + 10_000])
    watched += added
    grow_seconds = time.perf_counter() - grow_started
    reloads = service.index.full_reloads
    service.process([])
    if extra:
        assert service.index.full_reloads == reloads, "the index reloaded everything instead of following the changes"
        for name, blocks, share in (("10 blocks, 0.1% match", 10, 0.001),
                                    (f"{MSK_BATCH_SIZE} blocks, 0.1% match", MSK_BATCH_SIZE, 0.001)):
            run(name, blocks, share)
    return {"index": {"monitors": monitors, "addresses": [1_000, len(service.index.prefilter)]},
            "dynamodb_units": dynamodb_units(scenarios),
            "moto": "blockhook.local.aws_server (a Query reads only what its page needs; answers as moto's)",
            "grow_seconds_on_moto": round(grow_seconds, 1), "scenarios": scenarios}


_READS = ("GetItem", "Query", "Scan", "BatchGetItem")
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def dynamodb_units(scenarios: list[dict]) -> dict:
    """DynamoDB units per block and per match from the counted calls of the moto runs: per block from the
    run with no match, per match from the 100-block run at 0.1% (its calls less the blocks' share, over its
    matches). A unit per call: every item the matcher reads is under 4 KB and every one it writes under
    1 KB at these sizes (a match record of one or two events, a delivery), so each read costs 1 RCU
    (strongly consistent; 0.5 eventually) and each write 1 WCU; moto does not size them."""
    def units(row: dict) -> tuple[int, int]:
        calls = row["by_operation"]
        reads = sum(n for op, n in calls.items() if op.startswith("dynamodb.") and op.split(".")[1] in _READS)
        writes = sum(n for op, n in calls.items() if op.startswith("dynamodb.") and op.split(".")[1] in _WRITES)
        return reads, writes

    idle = next(row for row in scenarios if row["matches"] == 0)
    busy = [row for row in scenarios if row["blocks"] == MSK_BATCH_SIZE][-1]
    (idle_reads, idle_writes), (reads, writes) = units(idle), units(busy)
    per_block = (idle_reads / idle["blocks"], idle_writes / idle["blocks"])
    matches = max(1, busy["matches"])
    return {
        "per_block_no_match": {"read_units": round(per_block[0], 2), "write_units": round(per_block[1], 2)},
        "per_match": {"read_units": round((reads - per_block[0] * busy["blocks"]) / matches, 2),
                      "write_units": round((writes - per_block[1] * busy["blocks"]) / matches, 2)},
        "from": f"{idle['scenario']} and {busy['scenario']} (index {busy['index_addresses']:,})",
        "assumes": "one unit per call: items read under 4 KB (strongly consistent), written under 1 KB",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--round-trip-addresses", type=int, default=100_000)
    parser.add_argument("--skip-moto", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--traced-memory", action="store_true", help="also the bytes Python allocates (tracemalloc)")
    options = parser.parse_args()

    result = {"what": "events/s of the matcher Lambda's path (MSK batch -> decode -> MatchService) on one core, "
                      "beside the matching code alone; peak memory of the index loaded through WatchIndex.refresh; "
                      "AWS round trips of full MatchService batches on moto",
              "memory": {} if options.skip_memory else memory(options)}
    with contextlib.ExitStack() as stack:
        if not options.skip_moto:
            # First: the AWS clients (cached per process) are made with its endpoint. The throughput
            # part never reaches it (bench/fake_aws.py answers before the network).
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-matcher-"))
            stack.enter_context(common.moto_server(Path(tmp)))
        load_before = os.getloadavg()
        result["throughput"] = throughput(options)
        # The machine is shared: its load beside the figures (1, 5, 15-minute averages, 2 cores here).
        result["throughput"]["load_average_before_after"] = [[round(x, 2) for x in load_before],
                                                             [round(x, 2) for x in os.getloadavg()]]
        if not options.skip_moto:
            result["round_trips"] = round_trips(options)
    path = common.write_result("matcher", result)
    t, m = result["throughput"], result["memory"]
    for name, value in t["events_per_second_by_path"].items():
        print(f"{value:>12,} events/s  {name}")
    print(f"({t['matching_share']:.3%} matching, {t['addresses']:,} addresses)")
    if m:
        print(f"peak RSS {m['process_peak_rss_mb']} MB (full reload {m['peak_rss_full_reload_mb']} MB) "
              f"with {m['addresses']:,} addresses")
    for row in result.get("round_trips", {}).get("scenarios", []):
        print(f"  {row['scenario']:24} index {row['index_addresses']:>7,} events {row['events']:>7,} "
              f"matches {row['matches']:>4} dynamodb {row['dynamodb_round_trips']:>4} sqs {row['sqs_round_trips']:>3}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
