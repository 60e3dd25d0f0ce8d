"""What numbering deliveries costs in DynamoDB units, per delivery.

Deliveries are recorded on a moto server as the matcher records them (store/deliveries.py
`record_deliveries`: one TransactWriteItems of the counter update and the delivery puts, after a
strongly consistent read of the counter unless the process committed its value last), for one monitor's 1, 10, 100 and 300 matched ERC-20
transfers of a block (one delivery per 100). The items are read back and sized by DynamoDB's rules (as
address_api_bench.py does: moto answers TransactWriteItems with no consumed capacity), and the
units computed by DynamoDB's rules:

- a put or update of an item costs ceil(size / 1 KB) WCU, and twice that inside a transaction
  (DynamoDB prepares and commits each item);
- a strongly consistent read costs ceil(size / 4 KB) RCU, paid only when the process does not know
  the counter (its first numbering of that monitor and chain, or another writer moved it since);
- the by_monitor index write (every attribute projected) is counted at the standard rate,
  ceil(size / 1 KB) WCU, as before: DynamoDB propagates it after the commit.

Reported per delivery: what the record cost with a plain conditional put (the write it replaces),
what it costs now, and the difference (the counter's cost).

    .venv/bin/python bench/sequence_cost.py
"""

from __future__ import annotations

import math
import secrets
import tempfile
from pathlib import Path

import common
from address_api_bench import item_size, write_units

from tests.support.builders import erc20, new_address, new_hash

KB = 1024


def read_units(size: int) -> int:
    return max(1, math.ceil(size / (4 * KB)))


def erc20_event(chain_id: int, block: dict, n: int) -> dict:
    """A matched ERC-20 transfer of `block` (random parties), as the matcher hands it to delivery."""
    to = new_address()
    at = {"chain_id": chain_id, "block_number": block["number"], "block_hash": block["hash"],
          "block_timestamp": block["timestamp"], "tx_hash": new_hash(), "tx_index": n, "log_index": n}
    transfer = erc20(new_address(), new_address(), to, value="1500000000000000000000", **at)
    return {**transfer, "matched_addresses": [to], "labels": {to: "customer-42"}}


def measure(events_in_block: int) -> dict:
    """One enqueue: a monitor's `events_in_block` matched events of one block (100 a delivery)."""
    import boto3

    from blockhook.delivery.payload import build_payloads
    from blockhook.store import deliveries as store
    from blockhook.store.models import DeliveryModel, SequenceModel

    client = boto3.client("dynamodb")
    chain_id, monitor_id = 1, "mon_" + secrets.token_hex(8)
    block = {"number": 21_000_000, "hash": "0x" + secrets.token_hex(32), "parent_hash": "0x" + secrets.token_hex(32),
             "timestamp": 1_730_000_000}
    events = [erc20_event(chain_id, block, n) for n in range(events_in_block)]
    payloads = build_payloads(monitor_id, chain_id, block, events, removed=False)
    recorded = store.record_deliveries("tenant_bench", payloads)
    deliveries = len(payloads)
    assert [int(record.sequence) for record, _ in recorded] == list(range(1, deliveries + 1))

    sizes = [
        item_size(client.get_item(TableName=DeliveryModel.Meta.table_name, Key={"delivery_id": {"S": p["id"]}},
                                  ConsistentRead=True)["Item"])
        for p in payloads
    ]
    counter = item_size(client.get_item(TableName=SequenceModel.Meta.table_name,
                                        Key={"key": {"S": store.sequence_key(monitor_id, chain_id)}},
                                        ConsistentRead=True)["Item"])
    transactions = len(store._transaction_groups(payloads))
    index_wcu = sum(write_units(size) for size in sizes)  # by_monitor: every attribute projected
    before_wcu = sum(write_units(size) for size in sizes) + index_wcu  # a conditional put, and the index
    now_wcu = sum(2 * write_units(size) for size in sizes) + index_wcu + transactions * 2 * write_units(counter)
    now_rcu = transactions * read_units(counter)
    return {
        "events_in_block": events_in_block,
        "deliveries": deliveries,
        "transactions": transactions,
        "delivery_item_bytes": round(sum(sizes) / deliveries),
        "counter_item_bytes": counter,
        "wcu_per_delivery_before": before_wcu / deliveries,
        "wcu_per_delivery_numbered": now_wcu / deliveries,
        "extra_wcu_per_delivery": (now_wcu - before_wcu) / deliveries,
        "extra_rcu_per_delivery_counter_unknown": now_rcu / deliveries,
        "extra_rcu_per_delivery_counter_known": 0.0,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as logs, common.moto_server(Path(logs)):
        runs = [measure(events) for events in (1, 10, 100, 300)]
    result = {
        "rules": "put/update ceil(size/1KB) WCU, doubled inside a transaction; strongly consistent read "
                 "ceil(size/4KB) RCU, only when the process does not know the counter; the by_monitor index "
                 "write at the standard rate, ceil(size/1KB) WCU",
        "runs": runs,
    }
    path = common.write_result("sequence_cost", result)
    # +RCU: when the process does not know the counter; 0 when it does
    print(f"{'events':>6} {'deliveries':>10} {'item B':>7} {'WCU before':>10} {'WCU now':>8} {'+WCU':>6} {'+RCU':>6}")
    for run in runs:
        print(f"{run['events_in_block']:>6} {run['deliveries']:>10} {run['delivery_item_bytes']:>7} "
              f"{run['wcu_per_delivery_before']:>10.2f} {run['wcu_per_delivery_numbered']:>8.2f} "
              f"{run['extra_wcu_per_delivery']:>6.2f} {run['extra_rcu_per_delivery_counter_unknown']:>6.2f}")
    print(f"wrote {common.relative(path)}")


if __name__ == "__main__":
    main()
