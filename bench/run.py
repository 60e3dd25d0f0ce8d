"""`make bench`: run every benchmark, write bench/results/<name>.json, print one table.

Each benchmark runs in its own process, one after the other (they share this 2-core machine,
so running them together would skew every figure). The table shows each figure with its
target; comparisons are ratios measured side by side in the same run.

    .venv/bin/python bench/run.py [--quick] [--only matcher,ingest,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# name: (script, full-size arguments, quick arguments)
BENCHMARKS = {
    "matcher": ("matcher_bench.py", [], ["--addresses", "20000", "--monitors", "200", "--blocks", "5", "--repeat", "1",
                                         "--round-trip-addresses", "3000"]),
    # 150 + 75 blocks: every figure is a sweep of 4 fetch-only runs plus an ingest run, 4 times over
    # (0 ms, 50 ms, traces, backfill); the whole run has to stay under 15 minutes on this 2-core machine.
    "ingest": ("ingest_bench.py", ["--blocks", "600", "--mainnet-blocks", "200", "--trace-blocks", "300"],
               ["--blocks", "10", "--mainnet-blocks", "6", "--trace-blocks", "6", "--batch", "3", "--sweep", "1,2",
                "--sweep-blocks", "6", "--mainnet-sweep-blocks", "6", "--rounds", "1"]),
    "profile_ingest": ("profile_ingest.py", ["--blocks", "100"], ["--blocks", "10"]),
    # 300 transfers (500 before): p99 is still the 3rd latest, and the run 30 s shorter.
    "latency": ("latency_bench.py", ["--transfers", "300", "--rate", "6"], ["--transfers", "10", "--rate", "5"]),
    "address_api": ("address_api_bench.py", ["--addresses", "100000", "--size-every", "20"],
                    ["--addresses", "2001", "--per-call", "1000"]),
    # 1.5 minutes of load (2.5 before): the lag is flat after the first minute; a minute off the whole run.
    "load": ("load_bench.py", ["--minutes", "1.5"], ["--monitors", "20", "--minutes", "0.5"]),
    "cold_start": ("cold_start.py", [], ["--runs", "1"]),
}


def _mark(ok: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[ok]


def rows(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, met) lines of one benchmark's results."""
    if name == "matcher":
        t, m = r["throughput"], r.get("memory") or {}
        paths = t.get("events_per_second_by_path", {})
        target = t.get("target_events_per_second", 400_000)
        lines = [
            (f"matcher: events/s, Lambda batch path, {t['addresses']:,} addr",
             f"{t['events_per_second']:,} (message v{t.get('message_version', 1)}, {t['matching_share']:.2%} match; "
             "MSK batch -> decode -> MatchService)", f">= {target:,}", _mark(t["meets_target"])),
        ]
        if "floor_events_per_second" in t:
            lines.append(("matcher: floor (base64 of header + address column)",
                          f"{t['floor_events_per_second']:,} events/s; Lambda path / floor = {t['ratio_to_floor']:.2f}",
                          "-", "-"))
        if "version_1" in t:
            lines.append(("matcher: events/s, Lambda batch path, message v1", f"{t['version_1']['events_per_second']:,}",
                          "-", "-"))
        if "lambda_gb_seconds_per_million_events" in t:
            gbs, kafka = t["lambda_gb_seconds_per_million_events"], t["kafka_bytes_per_event"]
            lines.append(("matcher: Lambda GB-s per million events (1 GB)",
                          f"v2 {gbs['version_2']}, v1 {gbs['version_1']}", "-", "-"))
            lines.append(("Kafka bytes per event", f"v2 {kafka['version_2']}, v1 {kafka['version_1']}", "-", "-"))
        units = r.get("round_trips", {}).get("dynamodb_units")
        if units:
            lines.append(("matcher: DynamoDB units per block / per match",
                          f"block (no match) {units['per_block_no_match']['read_units']} RCU + "
                          f"{units['per_block_no_match']['write_units']} WCU; match {units['per_match']['read_units']} "
                          f"RCU + {units['per_match']['write_units']} WCU", "-", "-"))
        pure = paths.get("matching code alone, watchers from a dict (previous figure)")
        if pure:
            lines.append(("matcher: events/s, matching code alone", f"{pure:,} (the previous figure)", "-", "-"))
        if m:
            lines.append(("matcher: peak RSS, index via WatchIndex.refresh",
                          f"{m['process_peak_rss_mb']} MB (full reload {m['peak_rss_full_reload_mb']} MB, "
                          f"{m['addresses']:,} addr, then {m['addresses_after_changes']:,})",
                          "< 512 MB", _mark(m["meets_target"])))
        for s in r.get("round_trips", {}).get("scenarios", []):
            lines.append((f"matcher batch, index {s['index_addresses']:,}: {s['scenario']}",
                          f"{s['events']:,} events, {s['matches']} matches: {s['dynamodb_round_trips']} DynamoDB "
                          f"+ {s['sqs_round_trips']} SQS calls", "~ blocks + matches", "-"))
        return lines
    if name == "ingest":
        lines = []
        for label, key in (("ingest / limit, 0 ms", "at_0ms"),
                           (f"ingest / limit, {r['at_latency']['round_trip_ms']} ms RTT", "at_latency"),
                           ("ingest / limit, with traces", "with_traces"),
                           ("backfill / limit, mainnet-shaped", "backfill_mainnet_shaped")):
            f = r[key]
            target = r["targets"]["backfill_ratio" if key.startswith("backfill") else "ingest_ratio"]
            lines.append((label, f"{f['ratio_to_limit']:.2f} ({f['blocks_per_second']} / {f['limit_blocks_per_second']} "
                          f"blocks/s, limit at k={f['limit_in_flight']}; {f['blocks']} blocks)", f">= {target}",
                          _mark(f["ratio_to_limit"] >= target)))
        f = r["at_0ms"]
        lines.append(("ingest: events/s, Lambda GB-s / 1M events",
                      f"{f['events_per_second']:,}; {f['lambda_gb_seconds_per_million_events']} GB-s (0 ms), "
                      f"{r['at_latency']['lambda_gb_seconds_per_million_events']} ({r['at_latency']['round_trip_ms']} ms), "
                      f"{r['backfill_mainnet_shaped']['lambda_gb_seconds_per_million_events']} (backfill)", "-", "-"))
        for label, key in (("0 ms", "at_0ms"), ("backfill", "backfill_mainnet_shaped")):
            f = r[key]
            servers = f.get("servers_cpu_ms_per_block")
            if servers:  # what the node, ingest and the broker spend of the machine's cores per block
                lines.append((f"CPU ms a block, {label}: limit run / ingest run",
                              f"node {servers['limit'].get('node')} + fetch {f['cpu_ms_per_block']['limit']} / node "
                              f"{servers['ingest'].get('node')} + ingest {f['cpu_ms_per_block']['ingest']} + broker "
                              f"{servers['ingest'].get('broker')} + aws {servers['ingest'].get('aws')}", "-", "-"))
        return lines
    if name == "profile_ingest":
        stages = ", ".join(f"{k.split(' ')[0]} {v}" for k, v in r["us_per_block"].items())
        libs = r["encode_events_us_per_block"]
        return [("ingest stages, us/block", stages, "-", "-"),
                ("encode events, us/block", f"json {libs['json.dumps']}, orjson {libs['orjson.dumps']}", "-", "-")]
    if name == "latency":
        return [("e2e latency p50 / p95 / p99",
                 f"{r['p50_seconds']} / {r['p95_seconds']} / {r['p99_seconds']} s ({r['transfers']} transfers)",
                 f"p50 < {r['target']['p50_seconds']}, p99 < {r['target']['p99_seconds']}", _mark(r["meets_target"]))]
    if name in ("address_api", "address_api_1m"):
        label = "address API" if name == "address_api" else "address API, separate run"
        units = f"{r['write_units']:,} WCU"
        if "write_units_per_call" in r:
            units += f" ({r['write_units_per_call']:,} a call)"
        lines = [(f"{label}: add, calls of {r.get('per_call', 10_000):,}",
                  f"{r['addresses']:,} in {r['seconds']} s ({r['addresses_per_second']:,}/s), {units}", "-", "-"),
                 (f"{label}: picked up without restart",
                  f"delivered {r['pickup']['seconds_transfer_to_webhook']} s after the transfer", "delivered",
                  _mark(r["pickup"]["delivered"]))]
        if "extrapolated_to_1000000" in r:
            e = r["extrapolated_to_1000000"]
            lines.append((f"{label}: 1,000,000 (EXTRAPOLATED)", f"~{e['seconds']:,} s, {e['write_units']:,} WCU",
                          "-", "-"))
        return lines
    if name == "load":
        memory = ", ".join(f"{k} {v:,.0f} MB" for k, v in r["rss_mb_at_end"].items())
        return [(f"load: lag after {r['seconds'] / 60:.1f} min, {r['blocks_mined']} blocks of 50-100 tx",
                 f"{r['lag_blocks_at_end']} blocks (worst {r['max_lag_blocks']}; {r['blocks_processed_per_second']} "
                 f"blocks/s processed)", "none (<= 2)", _mark(r["meets_target"])),
                ("load: RSS of the embedded servers", memory, "-", "-")]
    if name == "cold_start":
        layers = r["layers"]
        sizes = ", ".join(f"{k} {v['unzipped_mb']} MB ({v['zipped_mb']} MB zipped)" for k, v in layers.items())
        return [*((f"cold start: {function} (import + first event's wiring)",
                   f"{f['total_s']} s, CPU {f['total_cpu_s']} s (median of {r['runs']}, {'with' if r.get('bytecode') else 'no'} byte code)", "-", "-")
                  for function, f in r["functions"].items()),
                # Lambda's limit: a function and its layers, unzipped, 250 MB.
                ("layers as deployed (unzipped, zipped)", sizes, "< 250 MB unzipped",
                 _mark(sum(v["unzipped_mb"] for v in layers.values()) < 250))]
    if name == "moto_scale":
        return [(f"{r['addresses']:,} addresses: one page of GET addresses, one add",
                 f"{r['get_addresses_first_page_seconds']} s, {r['add_one_address_seconds']} s; a transfer to the "
                 f"added address delivered in {r['transfer_to_added_address_delivered_seconds']} s", "< 1 s",
                 _mark(max(r['get_addresses_first_page_seconds'], r['add_one_address_seconds']) < 1)),
                (f"{r['addresses']:,} addresses: moto RSS, snapshot, restore",
                 f"{r['moto_rss_mb_running']:,.0f} MB; {r['snapshot_file_mb']} MB written in "
                 f"{r['snapshot_seconds_in_process']} s; restored in {r['restore_seconds']} s", "-", "-")]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the scripts run, figures mean nothing")
    parser.add_argument("--only", default="", help="comma-separated names: " + ",".join(BENCHMARKS))
    options = parser.parse_args()
    chosen = [n for n in BENCHMARKS if not options.only or n in options.only.split(",")]

    results = RESULTS
    if options.quick:  # never over the real figures
        results = Path(tempfile.mkdtemp(prefix="bench-quick-"))
        os.environ["BLOCKHOOK_BENCH_RESULTS"] = str(results)
    failed, timings = [], {}
    started = time.monotonic()
    for name in chosen:
        script, full, quick = BENCHMARKS[name]
        print(f"== {name}", flush=True)
        began = time.monotonic()
        code = subprocess.run([sys.executable, str(HERE / script), *(quick if options.quick else full)]).returncode
        timings[name] = time.monotonic() - began
        if code:
            failed.append(name)
    total = time.monotonic() - started

    table = []
    for name in chosen:
        path = results / f"{name}.json"
        if name in failed or not path.exists():
            table.append((name, "FAILED (see output above)", "-", "NO"))
            continue
        table += rows(name, json.loads(path.read_text()))
    separate = results / "address_api_1m.json"  # bench/address_api_bench.py --addresses 1000000: by hand, ~20 min
    if "address_api" in chosen and separate.exists():
        table += rows("address_api_1m", json.loads(separate.read_text()))
    scale = results / "moto_scale.json"  # bench/moto_scale.py: by hand, ~10 min
    if scale.exists():
        table += rows("moto_scale", json.loads(scale.read_text()))
    widths = [max(len(row[i]) for row in [("figure", "value", "target", "met"), *table]) for i in range(4)]
    print()
    for row in [("figure", "value", "target", "met"), tuple("-" * w for w in widths), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\n{len(chosen)} benchmarks in {total:.0f} s (" + ", ".join(f"{n} {s:.0f}s" for n, s in timings.items())
          + ")" + (" -- QUICK MODE: sizes too small to mean anything" if options.quick else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
