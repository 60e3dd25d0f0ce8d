"""The CLI's pure parts: monitors.yaml validation, CSV rows, address batches, times, checksums."""

from __future__ import annotations

import json
import os

import pytest
from eth_utils import keccak, to_checksum_address

from blockhook.chain.kinds import DEFAULT_KINDS, KIND_NAMES
from blockhook_cli import spec
from blockhook_cli.addresses import (
    BadRows,
    Entry,
    address_problem,
    batches,
    checksummed,
    keccak256,
    parse_csv,
)
from blockhook_cli.times import parse_duration, parse_time

API_BODY_LIMIT = 4_721_024
CHECKSUMMED = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def write(tmp_path, text: str, name: str = "monitors.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path, text: str) -> list[str]:
    with pytest.raises(spec.SpecError) as raised:
        spec.load(write(tmp_path, text))
    return raised.value.problems


def test_the_cli_knows_the_servers_kinds_and_defaults():
    assert spec.KINDS == KIND_NAMES
    assert spec.DEFAULT_KINDS == DEFAULT_KINDS


def test_a_monitor_file_is_read_as_the_api_stores_it(tmp_path):
    write(tmp_path, "address,label\n0x" + "ab" * 20 + ",from the file\n", "big.csv")
    monitors = spec.load(write(tmp_path, f"""
monitors:
  - name: hot wallets
    chain_ids: [56, 1, 1]
    webhook_url: https://example.com/hook
    filters:
      kinds: [erc20_transfer, native_transfer]
      addresses:
        - {CHECKSUMMED}
        - {{address: "0x{'ab' * 20}", label: inline}}
      contracts: ["0x{'CD' * 20}"]
      event_signatures: ["Transfer(address,address,uint256)"]
    condition: event.value > 5
    confirmations: safe
    active: false
    addresses_file: big.csv
  - name: everything
    chain_ids: [31337]
    webhook_url: http://127.0.0.1:9000/
"""))
    first, second = monitors
    assert first.chain_ids == [1, 56] and first.kinds == ["erc20_transfer", "native_transfer"]
    assert first.contracts == ["0x" + "cd" * 20] and first.confirmations == "safe" and first.active is False
    # the unquoted 0x address stays a string (YAML 1.1 reads it as a number); the file's row comes last
    assert first.addresses == [Entry(CHECKSUMMED.lower(), None), Entry("0x" + "ab" * 20, "from the file")]
    assert second.addresses is None and second.kinds == list(DEFAULT_KINDS) and second.active is True
    assert second.condition is None and second.confirmations is None


def test_every_problem_of_a_file_is_reported_with_the_monitors_position_and_name(tmp_path):
    problems = problems_of(tmp_path, """
monitors:
  - name: a
    chain_ids: [1]
    webhook_url: https://example.com
    colour: red
  - name: a
    chain_ids: ["1"]
    webhook_url: https://example.com
    filters: {kinds: [erc20], addresses: ["0x12"]}
  - name: c
    chain_ids: [1]
    webhook_url: https://example.com
    confirmations: 5000
    active: "yes please"
    addresses_file: nowhere.csv
  - just a string
""")
    text = "\n".join(problems)
    assert "monitors[0] ('a'): unknown key 'colour'" in text
    assert "monitors[1] ('a'): the name is also monitors[0]'s" in text
    assert "monitors[1] ('a'): chain_ids: a list of 1 to 50 positive integers" in text
    assert "monitors[1] ('a'): filters.kinds" in text
    assert "monitors[1] ('a'): filters.addresses[0]: '0x12' an address is 0x followed by 40 hex digits" in text
    assert "monitors[2] ('c'): confirmations" in text and "monitors[2] ('c'): active" in text
    assert "monitors[2] ('c'): addresses_file" in text and "nowhere.csv" in text
    assert "monitors[3]: a monitor is a mapping" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monitors: []\nextra: 1\n", "unknown top-level key 'extra'"),
        ("- name: a\n", "a mapping with a `monitors:` list"),
        ("monitors:\n  - name: a\n    name: b\n", "the key 'name' is written twice"),
        ("monitors: [\n", "not valid YAML"),
        (f"monitors:\n  - {{name: a, chain_ids: [1], webhook_url: u, filters: {{addresses: ['{CHECKSUMMED.replace('C', 'c', 1)}']}}}}\n",
         "fails its EIP-55 checksum"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_whole(tmp_path, text, expected):
    assert any(expected in problem for problem in problems_of(tmp_path, text)), problems_of(tmp_path, text)


def test_csv_rows_with_and_without_header_and_labels():
    text = 'address,label\n0x' + "aa" * 20 + ',"customer, 42"\n\n0x' + "BB" * 20 + "\n0x" + "aa" * 20 + ",again\n"
    assert parse_csv(text) == [Entry("0x" + "bb" * 20, None), Entry("0x" + "aa" * 20, "again")]
    assert parse_csv("0x" + "cc" * 20 + ",x\n") == [Entry("0x" + "cc" * 20, "x")]


def test_every_bad_csv_row_is_named_by_its_line():
    text = "address,label\n0x" + "aa" * 20 + "\nnot-an-address,x\n0x" + "bb" * 20 + ",a,b\n0x" + "cc" * 20 + "," + "l" * 201 + "\n"
    with pytest.raises(BadRows) as raised:
        parse_csv(text, "in.csv")
    problems = raised.value.problems
    assert [problem.split(":")[0] for problem in problems] == ["line 3", "line 4", "line 5"]
    assert "3 columns" in problems[1] and "at most 200 characters" in problems[2]


def test_batches_hold_at_most_10000_items_and_stay_under_the_body_limit():
    adds = [Entry(f"0x{n:040x}", None) for n in range(15_000)]
    removes = [f"0x{n:040x}" for n in range(20_000, 26_000)]
    calls = list(batches(adds, removes))
    assert [len(a) + len(r) for a, r in calls] == [10_000, 10_000, 1_000]
    assert [entry for a, _ in calls for entry in a] == adds and [x for _, r in calls for x in r] == removes
    # labels of 4-byte characters: 10,000 of them would pass the API's limit of 4,721,024 bytes
    heavy = [Entry(f"0x{n:040x}", "😀" * 200) for n in range(10_000)]
    sizes = [len(json.dumps({"add": [e.item() for e in a]}, ensure_ascii=False).encode()) for a, _ in batches(heavy)]
    assert len(sizes) == 2 and max(sizes) <= API_BODY_LIMIT


def test_keccak_and_checksums_agree_with_eth_utils():
    for size in (0, 1, 40, 135, 136, 137, 300):
        data = os.urandom(size)
        assert keccak256(data) == keccak(data)
    for _ in range(20):
        address = "0x" + os.urandom(20).hex()
        assert checksummed(address) == to_checksum_address(address)
        assert address_problem(to_checksum_address(address)) is None
    assert address_problem(CHECKSUMMED.lower()) is None and address_problem(CHECKSUMMED.upper().replace("0X", "0x")) is None
    assert "checksum" in address_problem(CHECKSUMMED[:-1] + "c")


def test_durations_and_times():
    assert parse_duration("30m") == 1800 and parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400
    assert parse_duration("3d") == 259200 and parse_duration("2x") is None and parse_duration("") is None
    now = 1_800_000_000
    assert parse_time("2h", now) == now - 7200
    assert parse_time("2026-12-03T10:00:00Z", now) == 1796292000
    assert parse_time("2026-12-03T10:00:00", now) == 1796292000  # no offset: UTC
    assert parse_time("2026-12-03T11:00:00+01:00", now) == 1796292000
    assert parse_time("1796292000", now) == 1796292000
    with pytest.raises(ValueError, match="neither a duration"):
        parse_time("yesterday", now)
