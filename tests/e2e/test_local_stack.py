"""The whole local stack, as `make up` runs it: a monitor created over HTTP gets signed
webhooks for exactly the watched transfers of a real chain, through a real Kafka broker."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.support.builders import monitor_body
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    TOKEN_RUNTIME,
    place_contract,
    rpc,
    send_transaction,
    send_tx,
    token_transfer,
    wait_for_receipt,
)
from tests.support.local_stack import LocalStack, running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

TOKEN = "0x00000000000000000000000000000000000e2e20"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("stack")) as local:
        yield local


def test_watched_transfers_arrive_signed_and_nothing_else(stack):
    watched, unwatched = "0x" + "ab" * 20, "0x" + "cd" * 20
    sender = ANVIL_ACCOUNTS[3]
    place_contract(stack.rpc, TOKEN, TOKEN_RUNTIME)
    with WebhookReceiver() as receiver:
        created = stack.call(
            "POST",
            "/monitors",
            json={
                "name": "e2e deposits",
                "chain_ids": [31337],
                "webhook_url": receiver.url,
                "filters": {
                    "kinds": ["native_transfer", "erc20_transfer"],
                    "addresses": [{"address": watched, "label": "customer-42"}],
                },
            },
        )
        assert created.status_code == 201, created.text
        monitor = created.json()

        sent = [
            send_tx(stack.rpc, sender, watched, value=10**18),
            send_tx(stack.rpc, sender, unwatched, value=2 * 10**18),
            token_transfer(stack.rpc, TOKEN, sender, watched, 5_000_000),
            token_transfer(stack.rpc, TOKEN, sender, unwatched, 7_000_000),
            send_tx(stack.rpc, sender, watched, value=3),  # the last block: once it is in, all are
        ]
        assert all(receipt["status"] == "0x1" for receipt in sent)

        requests_seen = receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)
        time.sleep(2)  # anything wrongly matched from the same blocks would have arrived by now
        receiver.verify_all(monitor["secret"])

    payloads = [request.json() for request in receiver.requests]
    events = [event for payload in payloads for event in payload["events"]]
    got = sorted((event["kind"], event["to"], event["value"]) for event in events)
    assert got == sorted(
        [
            ("native_transfer", watched, str(10**18)),
            ("erc20_transfer", watched, "5000000"),
            ("native_transfer", watched, "3"),
        ]
    )
    token_event = next(event for event in events if event["kind"] == "erc20_transfer")
    assert token_event["token"] == TOKEN and token_event["from"] == sender
    assert token_event["tx_hash"] == sent[2]["transactionHash"]
    for payload in payloads:
        assert payload["monitor_id"] == monitor["id"] and payload["chain_id"] == 31337
        assert payload["removed"] is False
        assert set(payload["block"]) == {"number", "hash", "parent_hash", "timestamp"}
        for event in payload["events"]:
            assert event["matched_addresses"] == [watched]
            assert event["labels"] == {watched: "customer-42"}
    assert len(requests_seen) == len({request.header("Blockhook-Delivery-Id") for request in requests_seen})


def test_unknown_key_is_refused_with_the_error_envelope(stack):
    answer = requests.get(f"{stack.api}/monitors", headers={"x-api-key": "wrong"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_a_reorg_takes_back_sent_events_and_never_sends_unconfirmed_ones(stack):
    watched = "0x" + "ef" * 20
    sender = ANVIL_ACCOUNTS[4]
    with WebhookReceiver() as at_once, WebhookReceiver() as confirmed:
        immediate = create_monitor(stack, at_once.url, watched, confirmations=0)
        careful = create_monitor(stack, confirmed.url, watched, confirmations=3)
        receipt = send_tx(stack.rpc, sender, watched, value=12345)

        (first,) = at_once.wait_for(timeout=30)
        sent = first.json()
        assert sent["removed"] is False and sent["block"]["hash"] == receipt["blockHash"]

        rpc(stack.rpc, "anvil_reorg", [1, []])  # the block with the transfer is replaced by an empty one
        rpc(stack.rpc, "anvil_mine", ["0x5"])  # the new branch grows past it, deep enough for `careful`

        requests_seen = at_once.wait_for(lambda seen: len(seen) >= 2, timeout=30)
        removal = requests_seen[1].json()
        assert removal["removed"] is True
        assert removal["block"] == sent["block"]
        assert [event["id"] for event in removal["events"]] == [event["id"] for event in sent["events"]]
        assert removal["id"] != sent["id"]
        at_once.verify_all(immediate["secret"])

        time.sleep(3)  # the new branch is processed by now (1 s polls); nothing may come for the old block
        assert confirmed.requests == []
        assert careful["confirmations"] == 3
    chains = stack.call("GET", "/chains").json()["items"]
    (local,) = chains
    assert local["chain_id"] == 31337 and local["head"] >= int(receipt["blockNumber"], 16) + 5
    assert local["lag_blocks"] is not None and local["lag_blocks"] >= 0


def create_monitor(stack: LocalStack, url: str, watched: str, **fields) -> dict:
    body = monitor_body(url, name="reorg watch", kinds=["native_transfer"], addresses=[watched], **fields)
    return stack.create_monitor(body)


def test_an_added_address_is_matched_from_the_head_of_that_moment(stack):
    watched = "0x" + "a7" * 20
    sender = ANVIL_ACCOUNTS[6]
    with WebhookReceiver() as receiver:
        monitor = create_monitor(stack, receiver.url, "0x" + "a8" * 20, confirmations=0)
        before = send_tx(stack.rpc, sender, watched, value=1)  # the head when the add is answered
        stack.wait_processed(31337, int(before["blockNumber"], 16))
        added = stack.call("POST", f"/monitors/{monitor['id']}/addresses", json={"add": [watched]})
        assert added.status_code == 200, added.text
        after = send_tx(stack.rpc, sender, watched, value=2)  # the very next block

        receiver.wait_for(lambda seen: len(seen) >= 2, timeout=30)
        time.sleep(2)
        got = sorted(event["tx_hash"] for request in receiver.requests for event in request.json()["events"])
        assert got == sorted([before["transactionHash"], after["transactionHash"]])
        receiver.verify_all(monitor["secret"])


def test_address_swaps_under_traffic_take_effect_whole_and_match_nothing_outside_the_list(stack):
    """A monitor's list is swapped between A and B through the API while every block pays A, B
    and C: each block is matched with A or with B (never with neither: no moment without an
    address), and C, never listed, is never sent."""
    a, b, c = "0x" + "c1" * 20, "0x" + "c2" * 20, "0x" + "c3" * 20
    sender = ANVIL_ACCOUNTS[8]
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor(
            {"name": "swaps", "chain_ids": [31337], "webhook_url": receiver.url,
             "filters": {"kinds": ["native_transfer"], "addresses": [a]}, "confirmations": 0}
        )  # fmt: skip
        path = f"/monitors/{monitor['id']}/addresses"
        stop, answers = threading.Event(), []

        def swap() -> None:
            current, other = a, b
            while not stop.is_set():
                answer = stack.call("POST", path, json={"add": [other], "remove": [current]})
                answers.append((answer.status_code, answer.json()))
                current, other = other, current

        swapper = threading.Thread(target=swap)
        blocks: list[int] = []
        rpc(stack.rpc, "evm_setAutomine", [False])
        swapper.start()
        try:
            for n in range(20):
                hashes = [send_transaction(stack.rpc, sender, to, value=1 + n) for to in (a, b, c)]
                rpc(stack.rpc, "evm_mine", [])
                numbers = {int(wait_for_receipt(stack.rpc, tx)["blockNumber"], 16) for tx in hashes}
                assert len(numbers) == 1  # the three payments share a block
                blocks += numbers
                time.sleep(0.3)  # the matcher works on the blocks while the list changes
        finally:
            stop.set()
            swapper.join(60)
            rpc(stack.rpc, "evm_setAutomine", [True])
        assert len(answers) >= 3
        assert all(status == 200 and body["address_count"] == 1 for status, body in answers), answers

        def by_block(seen) -> dict[int, list[dict]]:
            found: dict[int, list[dict]] = {}
            for request in seen:
                payload = request.json()
                for event in payload["events"]:
                    found.setdefault(payload["block"]["number"], []).append(event)
            return found

        stack.wait_processed(31337, blocks[-1])
        receiver.wait_for(lambda seen: set(blocks) <= set(by_block(seen)), timeout=30)
        time.sleep(2)  # a stray delivery would have arrived by now
        receiver.verify_all(monitor["secret"])
    delivered = by_block(receiver.requests)
    assert set(delivered) == set(blocks)
    for events in delivered.values():
        for event in events:
            assert event["to"] in (a, b) and event["matched_addresses"] == [event["to"]], event
