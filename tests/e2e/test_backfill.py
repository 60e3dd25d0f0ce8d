"""Backfill through the whole local stack (CONTRACT section 2): a monitor created after some
transfers asks for the past blocks and is sent their matches, through the same Kafka path,
while a live monitor on the same address is not sent anything twice."""

from __future__ import annotations

import time

import pytest

from tests.support import builders
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("backfill-stack")) as local:
        yield local


def monitor_body(url: str, watched: str, name: str) -> dict:
    return builders.monitor_body(url, name=name, chain_ids=[CHAIN_ID], kinds=["native_transfer"], addresses=[watched])


def test_a_new_monitor_is_sent_the_matches_of_past_blocks_and_nobody_else_is_disturbed(stack):
    watched, elsewhere = "0x" + "b1" * 20, "0x" + "b2" * 20
    sender = ANVIL_ACCOUNTS[5]
    with WebhookReceiver() as live_receiver, WebhookReceiver() as late_receiver:
        live = stack.create_monitor(monitor_body(live_receiver.url, watched, "live"))
        receipts = [send_tx(stack.rpc, sender, to, value=1000 + n) for n, to in enumerate([watched, elsewhere] * 3)]
        first, last = (int(r["blockNumber"], 16) for r in (receipts[0], receipts[-1]))
        stack.wait_processed(CHAIN_ID, last)
        live_receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)

        late = stack.create_monitor(monitor_body(late_receiver.url, watched, "late"))
        answer = stack.call("POST", f"/monitors/{late['id']}/backfill", json={"from_block": first, "to_block": last})
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert (job["from_block"], job["to_block"], job["chain_id"]) == (first, last, CHAIN_ID)
        assert job["status"] in {"queued", "running", "done"}

        late_receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)
        time.sleep(2)  # a wrong extra delivery to either receiver would have arrived by now
        late_receiver.verify_all(late["secret"])

        got = sorted(
            (event["tx_hash"], event["value"]) for request in late_receiver.requests for event in request.json()["events"]
        )
        assert got == sorted((r["transactionHash"], str(1000 + n)) for n, r in enumerate(receipts) if n % 2 == 0)
        assert len(live_receiver.requests) == 3  # the live monitor heard each transfer once, and only live
        assert all(request.json()["monitor_id"] == live["id"] for request in live_receiver.requests)

    shown = stack.call("GET", f"/monitors/{late['id']}").json()["backfill"]
    assert shown["id"] == job["id"] and shown["status"] == "done" and shown["next_block"] == last + 1


def test_a_backfill_is_refused_with_a_clear_error_when_it_cannot_run(stack):
    monitor = stack.create_monitor(monitor_body("http://127.0.0.1:9/hook", "0x" + "b3" * 20, "refusals"))
    path = f"/monitors/{monitor['id']}/backfill"
    head = int(rpc(stack.rpc, "eth_blockNumber", []), 16)
    for body, code in [
        ({"from_block": 5, "to_block": 4}, "invalid_range"),
        ({"from_block": 0, "to_block": head + 1000}, "unconfirmed_blocks"),
        ({"from_block": 0, "to_block": 1, "chain_id": 1}, "unknown_chain"),
        ({"from_block": -1, "to_block": 1}, "validation_failed"),
        ({"from_block": 0}, "validation_failed"),
    ]:
        answer = stack.call("POST", path, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]["code"] == code
    assert stack.call("POST", "/monitors/mon_000000000000000000000000/backfill", json={"from_block": 0, "to_block": 0}).status_code == 404
