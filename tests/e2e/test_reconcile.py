"""Reconcile through the whole local stack (CONTRACT section 2): a monitor's past blocks are read
from the chain again, matched for it as it is now and compared with its recorded deliveries, over
the stack's own ingest, Kafka, matcher and deliver functions. A delivery record deleted from the
stack's DynamoDB stands for one that was never made."""

from __future__ import annotations

import time

import boto3
import pytest

from tests.support import builders
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
DELIVERIES_TABLE = "blockhook-deliveries"  # the local stack's default name


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("reconcile-stack")) as local:
        yield local


def monitor_body(url: str, watched: list[str], name: str) -> dict:
    return builders.monitor_body(
        url, name=name, chain_ids=[CHAIN_ID], kinds=["native_transfer"], addresses=watched, confirmations=0
    )


def reconcile(stack, monitor: dict, first: int, last: int, heal: bool = False, timeout: float = 60) -> dict:
    """Start a reconcile and wait for it to finish; its final state, as GET .../reconcile answers it."""
    path = f"/monitors/{monitor['id']}/reconcile"
    answer = stack.call("POST", path, json={"from_block": first, "to_block": last, "heal": heal})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["id"]
    give_up = time.monotonic() + timeout
    while True:
        job = stack.call("GET", path).json()
        assert job["id"] == job_id
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            assert (job["next_block"], job["checked_through"]) == (last + 1, last)
            assert (job["missing_count"], job["extra_count"]) == (len(job["missing"]), len(job["extra"]))
            return job
        assert time.monotonic() < give_up, f"reconcile not done within {timeout} s: {job}"
        time.sleep(0.2)


def forget_delivery(stack, delivery_id: str) -> None:
    """Delete a delivery's record from the stack's DynamoDB: as if it had never been made."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.delete_item(TableName=DELIVERIES_TABLE, Key={"delivery_id": {"S": delivery_id}})


def event_ids(receiver: WebhookReceiver, removed: bool) -> list[str]:
    return [event["id"] for payload in receiver.payloads() if payload["removed"] is removed for event in payload["events"]]


def test_a_delivery_never_made_is_found_missing_healed_once_and_then_found_no_more(stack):
    watched, elsewhere = "0x" + "c1" * 20, "0x" + "c2" * 20
    sender = ANVIL_ACCOUNTS[7]
    with WebhookReceiver() as receiver, WebhookReceiver() as late_receiver:
        monitor = stack.create_monitor(monitor_body(receiver.url, [watched], "reconciled"))
        receipts = [send_tx(stack.rpc, sender, to, value=2000 + n) for n, to in enumerate([watched, elsewhere] * 3)]
        first, last = (int(r["blockNumber"], 16) for r in (receipts[0], receipts[-1]))
        stack.wait_processed(CHAIN_ID, last)
        receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)
        sent = event_ids(receiver, removed=False)
        assert len(sent) == 3

        everything = reconcile(stack, monitor, first, last)
        assert (everything["missing"], everything["extra"]) == ([], [])

        # The second transfer's delivery was never made.
        lost = next(request for request in receiver.requests if request.json()["events"][0]["id"] == sent[1])
        forget_delivery(stack, lost.header("Blockhook-Delivery-Id"))
        found = reconcile(stack, monitor, first, last)
        assert (found["missing"], found["extra"]) == ([sent[1]], [])
        assert len(receiver.requests) == 3  # without heal, nothing is sent

        healed = reconcile(stack, monitor, first, last, heal=True)
        assert (healed["missing"], healed["extra"], healed["heal"]) == ([sent[1]], [], True)
        receiver.wait_for(lambda seen: len(seen) >= 4, timeout=30)
        again = receiver.requests[3].json()
        assert again["removed"] is False and [event["id"] for event in again["events"]] == [sent[1]]
        assert again["id"] != lost.header("Blockhook-Delivery-Id")  # a delivery of its own
        assert again["events"][0]["matched_addresses"] == [watched]

        assert reconcile(stack, monitor, first, last)["missing"] == []  # healed: nothing missing now
        assert len(receiver.requests) == 4  # the missing event was sent once
        receiver.verify_all(monitor["secret"])

        # A monitor created after the blocks, its address added then: their matches were never its.
        late = stack.create_monitor(monitor_body(late_receiver.url, [], "late"))
        added = stack.call("POST", f"/monitors/{late['id']}/addresses", json={"add": [watched]})
        assert added.status_code == 200, added.text
        assert sorted(reconcile(stack, late, first, last)["missing"]) == sorted(sent)
        assert late_receiver.requests == []

    shown = stack.call("GET", f"/monitors/{monitor['id']}").json()["reconcile"]
    assert shown["status"] == "done" and "missing" not in shown


def test_a_delivered_block_whose_removal_was_never_made_is_found_extra_and_taken_back(stack):
    watched = "0x" + "c3" * 20
    sender = ANVIL_ACCOUNTS[8]
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor(monitor_body(receiver.url, [watched], "reorged"))
        snapshot = rpc(stack.rpc, "evm_snapshot", [])
        receipt = send_tx(stack.rpc, sender, watched, value=3000)
        number, replaced = int(receipt["blockNumber"], 16), receipt["blockHash"]
        receiver.wait_for(timeout=30)
        (event_id,) = event_ids(receiver, removed=False)

        # A reorg: the block is replaced by an empty one, and the stack takes the event back...
        assert rpc(stack.rpc, "evm_revert", [snapshot]) is True
        rpc(stack.rpc, "anvil_mine", ["0x2"])
        receiver.wait_for(lambda seen: len(seen) >= 2, timeout=30)
        removal = receiver.requests[1]
        assert removal.json()["removed"] is True and removal.json()["block"]["hash"] == replaced
        stack.wait_processed(CHAIN_ID, number + 1)
        # ...but say that removal was never made: the event's last delivery tells it is on the chain.
        forget_delivery(stack, removal.header("Blockhook-Delivery-Id"))

        found = reconcile(stack, monitor, number, number)
        assert (found["missing"], found["extra"]) == ([], [event_id])
        assert len(receiver.requests) == 2

        healed = reconcile(stack, monitor, number, number, heal=True)
        assert healed["extra"] == [event_id]
        receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)
        taken_back = receiver.requests[2].json()
        assert taken_back["removed"] is True and taken_back["block"]["hash"] == replaced
        assert [event["id"] for event in taken_back["events"]] == [event_id]

        assert reconcile(stack, monitor, number, number)["extra"] == []  # its last delivery says removed now
        assert len(receiver.requests) == 3
        receiver.verify_all(monitor["secret"])


def test_a_reconcile_past_what_the_confirmations_cover_is_refused(stack):
    monitor = stack.create_monitor(monitor_body("http://127.0.0.1:9/hook", ["0x" + "c4" * 20], "refused"))
    head = int(rpc(stack.rpc, "eth_blockNumber", []), 16)
    answer = stack.call("POST", f"/monitors/{monitor['id']}/reconcile", json={"from_block": 0, "to_block": head + 100})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "unconfirmed_blocks"
    assert stack.call("GET", f"/monitors/{monitor['id']}/reconcile").status_code == 404  # nothing started
