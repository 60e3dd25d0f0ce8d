"""The local stack with 100,000 watched addresses on one monitor, added through the API in calls of
10,000: the next add answers within the client's normal timeout, a page of the list answers, and a
transfer to the newest address is delivered (the embedded AWS endpoint reads only what a request
needs: blockhook.local.aws_server)."""

from __future__ import annotations

import random

import pytest

from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

ADDRESSES = 100_000
PER_CALL = 10_000


def test_a_monitor_of_100000_addresses_still_answers_and_delivers(tmp_path, record_property):
    rng = random.Random(100_000)
    addresses = [f"0x{rng.getrandbits(160):040x}" for _ in range(ADDRESSES + 1)]
    bulk, newest = addresses[:ADDRESSES], addresses[ADDRESSES]
    with WebhookReceiver() as receiver, running_stack(tmp_path) as stack:
        monitor = stack.create_monitor({"name": "scale", "chain_ids": [31337], "webhook_url": receiver.url,
                                        "filters": {"kinds": ["native_transfer"], "addresses": bulk[:1]},
                                        "confirmations": 0})
        path = f"/monitors/{monitor['id']}/addresses"
        for start in range(0, ADDRESSES, PER_CALL):
            added = stack.call("POST", path, json={"add": bulk[start : start + PER_CALL]}, timeout=300)
            assert added.status_code == 200, added.text

        added = stack.call("POST", path, json={"add": [newest]})  # the client's normal timeout (30 s)
        assert added.status_code == 200, added.text
        record_property("add_after_100000_addresses_ms", round(added.elapsed.total_seconds() * 1000))  # reported only
        assert stack.call("GET", f"/monitors/{monitor['id']}").json()["address_count"] == ADDRESSES + 1
        page = stack.call("GET", path, params={"limit": 100})
        assert page.status_code == 200, page.text
        assert [item["address"] for item in page.json()["items"]] == sorted(addresses)[:100]

        receipt = send_tx(stack.rpc, ANVIL_ACCOUNTS[3], newest, value=4242)
        receiver.wait_for(lambda seen: any(
            event.get("tx_hash") == receipt["transactionHash"] and event.get("to") == newest
            for request in seen for event in request.json().get("events", [])), timeout=120)
        receiver.verify_all(monitor["secret"])
