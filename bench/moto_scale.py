"""The local AWS endpoint (blockhook.local.aws_server) with 1,000,000 watched addresses: one page
of `GET /v1/monitors/{id}/addresses`, one add, a transfer to the added address delivered; the
server's memory, its snapshot (time, size) and its restore time.

The addresses are not added through the API (100 calls of 10,000: ~17 minutes, address_api.json):
a monitor is created through the API of a local stack running on the server, the server is stopped
(its state saved), the state is loaded in this process, grown to N addresses by copying the shape of
the monitor's own address items in both address tables (and its address_count), saved, and the
server started on it: the restore is what `make up` does after a restart.

    .venv/bin/python bench/moto_scale.py [--addresses 1000000]
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

ACCOUNT, REGION = "123456789012", "us-east-1"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def grow(state_dir: Path, monitor_id: str, addresses: list[str]) -> dict:
    """Load the saved state here, add `addresses` to the monitor in both address tables, save it."""
    from moto import mock_aws
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    from blockhook.local import aws_server
    from blockhook.store.models import AddressIndexModel, MonitorAddressModel, MonitorModel

    aws_server.install()
    with mock_aws():
        started = time.perf_counter()
        aws_server.load(state_dir)
        load_seconds = time.perf_counter() - started
        tables = dynamodb_backends[ACCOUNT][REGION].tables
        monitor_side = tables[MonitorAddressModel.Meta.table_name]
        index_side = tables[AddressIndexModel.Meta.table_name]
        (shape,) = [item.to_json()["Attributes"] for item in monitor_side.items[DynamoType({"S": monitor_id})].values()]
        (index_shape,) = [item.to_json()["Attributes"] for item in aws_server._every_item(index_side)
                          if item.attrs["monitor_id"].value == monitor_id]
        started = time.perf_counter()
        for address in addresses:
            monitor_side.put_item({**shape, "address": {"S": address}})
            index_side.put_item({**index_shape, "address": {"S": address}})
        fill_seconds = time.perf_counter() - started
        for partition in dict.values(tables[MonitorModel.Meta.table_name].items):
            for item in partition.values():
                if item.attrs["monitor_id"].value == monitor_id:
                    item.attrs["address_count"] = DynamoType({"N": str(len(addresses) + 1)})
        started = time.perf_counter()
        size = aws_server.save(state_dir)
        save_seconds = time.perf_counter() - started
    return {"load_seconds_small": round(load_seconds, 2), "fill_seconds": round(fill_seconds, 1),
            "snapshot_seconds_in_process": round(save_seconds, 1), "snapshot_mb": round(size / 2**20, 1)}


def timed(call) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--name", default="moto_scale")
    options = parser.parse_args()
    from blockhook.local import servers

    rng = random.Random(13)
    # N - 1 in the state, the N-th added through the API (a monitor holds at most 1,000,000).
    addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(options.addresses)]
    first, grown, newest = addresses[0], addresses[1:-1], addresses[-1]
    result: dict = {"addresses": len(addresses)}
    with tempfile.TemporaryDirectory(prefix="bench-moto-scale-") as tmp, WebhookReceiver() as receiver:
        root = Path(tmp)
        state, logs = root / "aws-state", root / "logs"
        logs.mkdir()

        def aws(port: int):
            return servers.moto(port, log_path=logs / "moto.log", state_dir=state)

        # One chain and one broker for both stacks: the state carries the chain's checkpoint.
        anvil = servers.anvil(servers.free_port(), 31337, log_path=logs / "anvil.log").start()
        tansu = servers.tansu(servers.free_port(), log_path=logs / "tansu.log").start()
        port = servers.free_port()
        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "BLOCKHOOK_RPC_URL": anvil.url,
               "BLOCKHOOK_KAFKA_BOOTSTRAP": f"127.0.0.1:{tansu.port}"}
        server = aws(port).start()
        try:
            stack_dir = root / "stack1"
            stack_dir.mkdir()
            with running_stack(stack_dir, env) as stack:
                monitor = stack.create_monitor({"name": "scale", "chain_ids": [31337], "webhook_url": receiver.url,
                                                "filters": {"kinds": ["native_transfer"], "addresses": [first]},
                                                "confirmations": 0})
        finally:
            server.stop()
        print(f"monitor {monitor['id']} created; growing the state to {len(grown) + 1:,} addresses", flush=True)
        result.update(grow(state, monitor["id"], grown))
        print(result, flush=True)

        started = time.perf_counter()
        server = aws(port).start(timeout=600)
        result["restore_seconds"] = round(time.perf_counter() - started, 1)
        try:
            result["moto_rss_mb_after_restore"] = rss_mb(server.process.pid)
            print(result, flush=True)
            stack_dir = root / "stack2"
            stack_dir.mkdir()
            with running_stack(stack_dir, env) as stack:
                monitor_path = f"/monitors/{monitor['id']}"
                page_seconds, page = timed(lambda: stack.call("GET", f"{monitor_path}/addresses?limit=100"))
                assert page.status_code == 200, page.text
                cursor = page.json().get("next_cursor")
                next_seconds, next_page = timed(
                    lambda: stack.call("GET", f"{monitor_path}/addresses", params={"limit": 100, "cursor": cursor}))
                assert next_page.status_code == 200, next_page.text
                add_seconds, added = timed(lambda: stack.call("POST", f"{monitor_path}/addresses", json={"add": [newest]}))
                assert added.status_code == 200, added.text
                result.update({
                    "get_addresses_first_page_seconds": round(page_seconds, 3),
                    "get_addresses_next_page_seconds": round(next_seconds, 3),
                    "page_items": len(page.json()["items"]),
                    "add_one_address_seconds": round(add_seconds, 3),
                    "address_count_after_add": stack.call("GET", monitor_path).json().get("address_count"),
                })
                print(result, flush=True)
                started = time.perf_counter()
                receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[3], newest, value=12345)
                receiver.wait_for(lambda seen: any(
                    e.get("tx_hash") == receipt["transactionHash"] and e.get("to") == newest
                    for r in seen for e in r.json().get("events", [])), timeout=1200)
                result["transfer_to_added_address_delivered_seconds"] = round(time.perf_counter() - started, 1)
                result["moto_rss_mb_running"] = rss_mb(server.process.pid)
        finally:
            started = time.perf_counter()
            server.stop()
            result["stop_with_final_snapshot_seconds"] = round(time.perf_counter() - started, 1)
            result["snapshot_file_mb"] = round(os.path.getsize(state / "aws-state.pickle") / 2**20, 1)
            tansu.stop()
            anvil.stop()
    result["what"] = ("the local stack on blockhook.local.aws_server with one monitor of N addresses (both address "
                      "tables: 2N items): a page of GET addresses (100), the next page, an add of one address, a "
                      "transfer to it delivered; moto's RSS; the state's snapshot and restore")
    path = common.write_result(options.name, result)
    print(result)
    print(f"wrote {common.relative(path)}")


if __name__ == "__main__":
    main()
