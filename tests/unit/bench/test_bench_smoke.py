"""The benchmarks' own pieces still fit the code they measure (no timing checked here)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import matcher_bench  # noqa: E402
import synthetic  # noqa: E402

from blockhook.streaming.codec import BlockHeader, decode, encode_block  # noqa: E402


def test_synthetic_blocks_have_the_mainnet_shape_and_survive_the_codec():
    header, events = synthetic.make_block(random.Random(1), 1, 100)
    kinds = [event["kind"] for event in events]
    assert kinds.count("transaction") == 200 and kinds.count("log") == 600
    assert 380 <= kinds.count("erc20_transfer") <= 460
    values = encode_block(BlockHeader(1, header["number"], header["hash"], header["parent_hash"],
                                      header["timestamp"]), events)
    assert [e for v in values for e in decode(v).events] == events


def test_planted_addresses_are_exactly_the_matches():
    index = matcher_bench.build_index(monitors=10, addresses=1000)
    rng = random.Random(2)
    blocks = matcher_bench.planted_blocks(rng, 3, 10, 100, share=0.01)
    planted = sum(1 for _, events in blocks for e in events if e.get("to") in index.prefilter)
    assert planted > 0
    assert matcher_bench.match_blocks(index, blocks) == planted
