"""Scale of the address API (issue 7, item 5).

Against the local stack's API (moto server behind it): add N addresses to one monitor in
calls of 10,000 (`POST /v1/monitors/{id}/addresses`), timing each call; count the DynamoDB
items written (each new address writes 2: the monitor's list and the address index) and so
the write units (every item is under 1 KB: 1 WCU each); then send a transfer to one of the
last added addresses and wait for its webhook, with the stack never restarted: the matcher
picked the addresses up on its own.

1,000,000 addresses take too long on moto for the 15-minute budget of `make bench`, so the
default adds 100,000 and extrapolates linearly to 1,000,000 (labelled as such); pass
`--addresses 1000000` to measure it.

    .venv/bin/python bench/address_api_bench.py [--addresses 100000] [--per-call 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import common
import requests

from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

TARGET = 1_000_000


def count_items(endpoint: str, table: str, **query) -> int:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint)
    total, start = 0, None
    while True:
        page = dict(TableName=table, Select="COUNT", **query)
        if start:
            page["ExclusiveStartKey"] = start
        answer = client.query(**page) if "KeyConditionExpression" in page else client.scan(**page)
        total += answer["Count"]
        start = answer.get("LastEvaluatedKey")
        if not start:
            return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--per-call", type=int, default=10_000)
    parser.add_argument("--state-dir", help="keep the stack's logs here (default: a temporary folder)")
    options = parser.parse_args()

    rng = random.Random(5)
    addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(options.addresses)]
    calls = []
    with tempfile.TemporaryDirectory(prefix="bench-addresses-") as tmp, WebhookReceiver() as receiver, \
            running_stack(Path(options.state_dir or tmp)) as stack:
        endpoint = f"http://127.0.0.1:{stack.aws_port}"
        monitor = stack.create_monitor({"name": "deposits", "chain_ids": [31337], "webhook_url": receiver.url,
                                        "filters": {"kinds": ["native_transfer"], "addresses": [addresses[0]]},
                                        "confirmations": 0})
        path = f"/monitors/{monitor['id']}/addresses"
        started = time.perf_counter()
        for start in range(1, len(addresses), options.per_call):
            chunk = addresses[start : start + options.per_call]
            call_started = time.perf_counter()
            answer = requests.post(stack.api + path, json={"add": chunk}, headers={"x-api-key": stack.api_key},
                                   timeout=600)
            if answer.status_code != 200:
                raise RuntimeError(f"add addresses answered {answer.status_code}: {answer.text[:300]}")
            calls.append(time.perf_counter() - call_started)
        add_seconds = time.perf_counter() - started

        # Picked up without a restart: a transfer to one of the last added addresses is delivered.
        target = addresses[-1]
        pickup_started = time.perf_counter()
        receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[3], target, value=12345)
        receiver.wait_for(lambda seen: any(e.get("tx_hash") == receipt["transactionHash"] and e.get("to") == target
                                           for r in seen for e in r.json().get("events", [])), timeout=300)
        pickup_seconds = time.perf_counter() - pickup_started

        listed = stack.call("GET", f"/monitors/{monitor['id']}").json()
        monitor_items = count_items(endpoint, os.environ.get("BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
                                                             "blockhook-monitor-addresses"),
                                    KeyConditionExpression="monitor_id = :m",
                                    ExpressionAttributeValues={":m": {"S": monitor["id"]}})
        index_items = count_items(endpoint, os.environ.get("BLOCKHOOK_ADDRESS_INDEX_TABLE", "blockhook-address-index"))

    added = len(addresses)
    per_address = add_seconds / (added - 1)
    items_written = monitor_items + index_items
    result = {
        "what": "add addresses to one monitor through the local stack's API (moto server behind it) in calls of "
                f"{options.per_call:,}; items written = write units (each item < 1 KB); then a transfer to the "
                "last added address is delivered with no restart",
        "addresses": added,
        "calls": len(calls),
        "seconds": round(add_seconds, 1),
        "seconds_per_call": {"min": round(min(calls), 2), "max": round(max(calls), 2),
                             "mean": round(sum(calls) / len(calls), 2)},
        "addresses_per_second": round((added - 1) / add_seconds),
        "address_count_reported": listed.get("address_count"),
        "items_written": {"monitor_addresses": monitor_items, "address_index": index_items},
        "write_units": items_written,
        "write_units_per_address": round(items_written / added, 3),
        "write_units_note": "plus per call one monitor update (address_count), one version counter update "
                            "and one change record: 3 WCU a call; reads: one BatchGetItem per 100 addresses "
                            "to tell new from known ones",
        "pickup": {"address": target, "delivered": True, "seconds_transfer_to_webhook": round(pickup_seconds, 1)},
    }
    if added < TARGET:
        result["extrapolated_to_1000000"] = {
            "label": f"EXTRAPOLATED linearly from {added:,} measured addresses, not measured",
            "seconds": round(per_address * TARGET),
            "write_units": round(items_written / added * TARGET),
        }
    path = common.write_result("address_api", result)
    print(f"{added:,} addresses in {add_seconds:.1f}s ({result['addresses_per_second']:,}/s), "
          f"{items_written:,} items written, picked up in {pickup_seconds:.1f}s; wrote {path}")


if __name__ == "__main__":
    main()
