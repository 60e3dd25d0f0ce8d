"""Scale of the address API.

Against the local stack's API (moto server behind it): add N addresses to one monitor in calls of
10,000 (`POST /v1/monitors/{id}/addresses`), timing each call; then send a transfer to the last
address added and wait for its webhook, with the stack never restarted: the matcher picked the
addresses up on its own (it follows each call's change record, no rescan).

Write units are computed from the items written, by DynamoDB's rules: a write of an item costs
ceil(size / 1 KB) WCU, the size being the sum of its attribute names' lengths and values' sizes
(strings: UTF-8 bytes; binary: bytes; numbers: 1 byte + 1 per 2 significant digits; lists/maps:
3 bytes + 1 per element + the elements). moto answers ReturnConsumedCapacity with fixed figures
(1.0 per table for a BatchWriteItem, moto/dynamodb/responses.py), not by size, so the items are
read back and sized instead: every item of both address tables (or every `--size-every`-th address's
two items, the rest counted alike), each call's change record, the monitor (updated once a call:
address_count) and the version counter (updated once a call). DescribeTable item counts of every
table before and after show that nothing else was written.

The stack's moto server is blockhook.local.aws_server: stock moto answers a single-key Query by
sorting every item of the table, which at 2,000,000 items takes longer than botocore's 60 s timeout.

    .venv/bin/python bench/address_api_bench.py [--addresses 100000] [--per-call 10000]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import common
import requests

from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

TARGET = 1_000_000
KB = 1024


# -- DynamoDB item sizes ----------------------------------------------------------------------------
def number_size(text: str) -> int:
    """Bytes of a number: 1 + 1 per two significant digits (leading and trailing zeros trimmed)."""
    digits = format(abs(Decimal(text)), "f").replace(".", "").strip("0") or "0"
    return 1 + math.ceil(len(digits) / 2)


def value_size(value: dict) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in inner)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in inner.items())
    if kind == "SS":
        return sum(len(element.encode()) for element in inner)
    if kind == "NS":
        return sum(number_size(element) for element in inner)
    if kind == "BS":
        return sum(len(element) for element in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def table_name(variable: str, default: str) -> str:
    return os.environ.get(variable, default)


ADDRESSES_TABLE = table_name("BLOCKHOOK_MONITOR_ADDRESSES_TABLE", "blockhook-monitor-addresses")
INDEX_TABLE = table_name("BLOCKHOOK_ADDRESS_INDEX_TABLE", "blockhook-address-index")
MONITORS_TABLE = table_name("BLOCKHOOK_MONITORS_TABLE", "blockhook-monitors")
STATE_TABLE = table_name("BLOCKHOOK_STATE_TABLE", "blockhook-state")


def item_counts(client) -> dict[str, int]:
    """Every table's item count (moto keeps DescribeTable's ItemCount live)."""
    names = client.list_tables()["TableNames"]
    return {name: client.describe_table(TableName=name)["Table"]["ItemCount"] for name in names}


def sized_items(client, table: str, keys: list[dict]) -> tuple[int, list[int]]:
    """(items found, their sizes) for these keys, read with BatchGetItem."""
    sizes = []
    for start in range(0, len(keys), 100):
        pending = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        while pending:
            answer = client.batch_get_item(RequestItems=pending)
            sizes += [item_size(item) for item in answer["Responses"].get(table, [])]
            pending = answer.get("UnprocessedKeys") or {}
    return len(sizes), sizes


def write_units_of_the_run(client, monitor_id: str, addresses: list[str], versions: range, calls: int,
                           every: int) -> dict:
    sampled = addresses[::every]
    tables = {}
    for table, key in ((ADDRESSES_TABLE, lambda a: {"monitor_id": {"S": monitor_id}, "address": {"S": a}}),
                       (INDEX_TABLE, lambda a: {"address": {"S": a}, "monitor_id": {"S": monitor_id}})):
        found, sizes = sized_items(client, table, [key(address) for address in sampled])
        if found != len(sampled):
            raise RuntimeError(f"{table}: {found} of {len(sampled)} items found")
        units = sum(write_units(size) for size in sizes)
        tables[table] = {"items": len(addresses), "items_sized": found,
                         "bytes_per_item": {"min": min(sizes), "max": max(sizes)},
                         "write_units": round(units * len(addresses) / found)}
    changes = []
    for version in versions:
        item = client.get_item(TableName=STATE_TABLE, Key={"key": {"S": f"change#{version}"}}, ConsistentRead=True)
        if "Item" in item:
            changes.append(item_size(item["Item"]))
    monitor_item = next(item for item in client.scan(TableName=MONITORS_TABLE)["Items"]
                        if item["monitor_id"]["S"] == monitor_id)
    version_item = client.get_item(TableName=STATE_TABLE, Key={"key": {"S": "version#monitors"}},
                                   ConsistentRead=True)["Item"]
    monitor_units = write_units(item_size(monitor_item))
    version_units = write_units(item_size(version_item))
    per_call = {
        "change record (state table, PutItem)": {"bytes": max(changes) if changes else 0,
                                                 "write_units": max(write_units(c) for c in changes) if changes else 0},
        "monitor address_count (monitors table, UpdateItem)": {"bytes": item_size(monitor_item),
                                                               "write_units": monitor_units},
        "version counter (state table, UpdateItem)": {"bytes": item_size(version_item), "write_units": version_units},
    }
    change_units = sum(write_units(c) for c in changes)
    total = (sum(t["write_units"] for t in tables.values()) + change_units + calls * (monitor_units + version_units))
    return {"address_tables": tables, "per_call": per_call, "change_records": len(changes),
            "change_record_write_units": change_units, "total_write_units": total,
            "sized": "every item" if every == 1 else f"every {every}th address's items (all of one shape), scaled"}


# -- the run ----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--per-call", type=int, default=10_000)
    parser.add_argument("--size-every", type=int, default=1, help="size every n-th address's items (default: all)")
    parser.add_argument("--name", default="address_api", help="results file name (bench/results/<name>.json)")
    parser.add_argument("--state-dir", help="keep the stack's logs here (default: a temporary folder)")
    options = parser.parse_args()
    import boto3

    rng = random.Random(5)
    addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(options.addresses)]
    calls = []
    with tempfile.TemporaryDirectory(prefix="bench-addresses-") as tmp:
        state = Path(options.state_dir or tmp)
        state.mkdir(parents=True, exist_ok=True)
        with WebhookReceiver() as receiver, running_stack(state) as stack:
            client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{stack.aws_port}")
            monitor = stack.create_monitor({"name": "deposits", "chain_ids": [31337], "webhook_url": receiver.url,
                                            "filters": {"kinds": ["native_transfer"], "addresses": [addresses[0]]},
                                            "confirmations": 0})
            counts_before = item_counts(client)
            version_before = int(client.get_item(TableName=STATE_TABLE, Key={"key": {"S": "version#monitors"}},
                                                 ConsistentRead=True)["Item"]["version"]["N"])
            path = f"/monitors/{monitor['id']}/addresses"
            started = time.perf_counter()
            for start in range(1, len(addresses), options.per_call):
                chunk = addresses[start : start + options.per_call]
                call_started = time.perf_counter()
                answer = requests.post(stack.api + path, json={"add": chunk},
                                       headers={"x-api-key": stack.api_key}, timeout=600)
                if answer.status_code != 200:
                    raise RuntimeError(f"add addresses answered {answer.status_code}: {answer.text[:300]}")
                calls.append(time.perf_counter() - call_started)
                print(f"  {start + len(chunk) - 1:>9,} added, call {calls[-1]:.1f} s", flush=True)
            add_seconds = time.perf_counter() - started
            counts_after = item_counts(client)  # before the transfer: its match and delivery are not the adds'

            # Picked up without a restart: a transfer to the last added address is delivered.
            target = addresses[-1]
            pickup_started = time.perf_counter()
            receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[3], target, value=12345)
            receiver.wait_for(lambda seen: any(
                e.get("tx_hash") == receipt["transactionHash"] and e.get("to") == target
                for r in seen for e in r.json().get("events", [])), timeout=600)
            pickup_seconds = time.perf_counter() - pickup_started

            listed = stack.call("GET", f"/monitors/{monitor['id']}").json()
            version_after = int(client.get_item(TableName=STATE_TABLE, Key={"key": {"S": "version#monitors"}},
                                                ConsistentRead=True)["Item"]["version"]["N"])
            sizing_started = time.perf_counter()
            units = write_units_of_the_run(client, monitor["id"], addresses[1:],
                                           range(version_before + 1, version_after + 1), len(calls),
                                           options.size_every)
            sizing_seconds = time.perf_counter() - sizing_started

    added = len(addresses) - 1
    grown = {name: counts_after[name] - counts_before.get(name, 0) for name in counts_after
             if counts_after[name] != counts_before.get(name, 0)}
    per_call_units = round(units["total_write_units"] / len(calls))
    result = {
        "what": f"add addresses to one monitor through the local stack's API (moto server behind it) in calls of "
                f"{options.per_call:,}; write units from the sizes of the items written; then a transfer to the "
                "last added address is delivered with no restart",
        "moto": "blockhook.local.aws_server",
        "addresses": added,
        "per_call": options.per_call,
        "calls": len(calls),
        "seconds": round(add_seconds, 1),
        "seconds_per_call": {"min": round(min(calls), 2), "max": round(max(calls), 2),
                             "mean": round(sum(calls) / len(calls), 2),
                             "first": round(calls[0], 2), "last": round(calls[-1], 2)},
        "addresses_per_second": round(added / add_seconds),
        "address_count_reported": listed.get("address_count"),
        "items_added_by_table": grown,
        "write_units": units["total_write_units"],
        "write_units_per_call": per_call_units,
        "write_units_detail": units,
        "write_units_note": "per call of 10,000 new addresses: 10,000 items in each address table (1 WCU each, "
                            "items well under 1 KB), one change record listing the 10,000 addresses (20 bytes "
                            "each: ~200 KB, so ~196 WCU), the monitor's address_count update and the version "
                            "counter update. Reads: one BatchGetItem per 100 addresses to tell new from known "
                            "ones, and the chains' checkpoints",
        "sizing_seconds": round(sizing_seconds, 1),
        "pickup": {"address": target, "delivered": True, "seconds_transfer_to_webhook": round(pickup_seconds, 1)},
    }
    if added + 1 < TARGET:
        result["extrapolated_to_1000000"] = {
            "label": f"EXTRAPOLATED linearly from {added:,} measured addresses, not measured",
            "seconds": round(add_seconds / added * TARGET),
            "write_units": round(units["total_write_units"] / added * TARGET),
        }
    path = common.write_result(options.name, result)
    print(f"{added:,} addresses in {add_seconds:.1f}s ({result['addresses_per_second']:,}/s), "
          f"{units['total_write_units']:,} WCU ({per_call_units:,} a call), picked up in {pickup_seconds:.1f}s; "
          f"wrote {path}")


if __name__ == "__main__":
    main()
