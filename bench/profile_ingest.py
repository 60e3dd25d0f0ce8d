"""Profile ingest's hot path with pyinstrument.

Fills an Anvil with blocks, then profiles (1) the CPU work of ingest alone on blocks already
fetched: block_events and encode_block, and (2) ChainIngest.poll end to end against Tansu
and moto. Writes bench/results/profile_ingest.txt (call trees) and profile_ingest.json
(per-stage microseconds per block).

    .venv/bin/python bench/profile_ingest.py [--blocks 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
from chain_fixture import ChainFiller, start_anvil
from ingest_bench import CHAIN_ID, fetch_only, ingest_once

from blockhook.chain.events import block_events
from blockhook.chain.reader import RpcChainReader
from blockhook.chain.rpc import JsonRpcClient
from blockhook.streaming.codec import BlockHeader, decode, encode_block


def stage_timings(url: str, first: int, last: int, batch: int) -> dict:
    reader = RpcChainReader(JsonRpcClient([url]))
    blocks = []
    started = time.perf_counter()
    for start in range(first, last + 1, batch):
        blocks += reader.blocks(start, min(last, start + batch - 1))
    fetch = time.perf_counter() - started
    started = time.perf_counter()
    events = [block_events(CHAIN_ID, block) for block in blocks]
    extract = time.perf_counter() - started
    headers = [BlockHeader(CHAIN_ID, b.number, b.hash, b.parent_hash, b.timestamp) for b in blocks]
    started = time.perf_counter()
    messages = [encode_block(header, block_events_) for header, block_events_ in zip(headers, events, strict=True)]
    encode = time.perf_counter() - started
    started = time.perf_counter()
    for chunks in messages:
        for value in chunks:
            decode(value)
    decoded = time.perf_counter() - started
    json_seconds, orjson_seconds = _json_libraries(events)
    count = len(blocks)
    return {
        "blocks": count,
        "events_per_block": round(sum(map(len, events)) / count, 1),
        "message_bytes_per_block": round(sum(len(v) for chunks in messages for v in chunks) / count),
        "us_per_block": {
            "fetch (RPC + JSON parse + checks)": round(fetch / count * 1e6),
            "block_events": round(extract / count * 1e6),
            "encode_block": round(encode / count * 1e6),
            "decode (matcher side)": round(decoded / count * 1e6),
        },
        "encode_events_us_per_block": {"json.dumps": round(json_seconds / count * 1e6),
                                       "orjson.dumps": round(orjson_seconds / count * 1e6)},
    }


def _json_libraries(events: list[list[dict]]) -> tuple[float, float]:
    """Encoding every event of the blocks, once per library (the codec's per-event step)."""
    import json

    import orjson

    started = time.perf_counter()
    for block in events:
        for event in block:
            json.dumps(event, separators=(",", ":")).encode()
    middle = time.perf_counter()
    for block in events:
        for event in block:
            orjson.dumps(event)
    return middle - started, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--in-flight", type=int, default=4, help="requests in flight (the chain default)")
    options = parser.parse_args()
    from pyinstrument import Profiler

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        logs = Path(tmp)
        node = start_anvil(logs)
        try:
            filler = ChainFiller(node.url)
            filler.setup()
            first = filler.head() + 1
            for _ in range(options.blocks):
                filler.fill_block(100)
            last = filler.head()
            stages = stage_timings(node.url, first, last, options.batch)
            profiler = Profiler(interval=0.0005)
            with profiler:
                fetch_only(node.url, first, last, options.batch, options.in_flight)
            fetch_tree = profiler.output_text(color=False, show_all=False)
            with common.moto_server(logs), common.tansu_server(logs) as bootstrap:
                profiler = Profiler(interval=0.0005)
                with profiler:
                    ingest_once(node.url, bootstrap, first, last, options.batch, options.in_flight)
                ingest_tree = profiler.output_text(color=False, show_all=False)
        finally:
            node.stop()
    text = common.RESULTS / "profile_ingest.txt"
    text.write_text("== fetch-only ==\n" + fetch_tree + "\n== ChainIngest.poll ==\n" + ingest_tree)
    common.write_result("profile_ingest", {"what": "per-stage cost of ingest on the same blocks", **stages,
                                           "call_trees": common.relative(text)})
    print(stages)


if __name__ == "__main__":
    main()
