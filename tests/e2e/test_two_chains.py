"""Two chains at once: the local stack given a chains file with two Anvil nodes (ids 31337 and 31338)
starts no node of its own, serves both, and keeps each chain's events on that chain."""

from __future__ import annotations

import json
import time

import pytest

from blockhook.local.servers import anvil, free_port
from tests.support import builders
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    TOKEN_RUNTIME,
    place_contract,
    rpc,
    send_tx,
    token_transfer,
)
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CHAIN_A, CHAIN_B = 31337, 31338
TOKEN = "0x00000000000000000000000000000000000e2e22"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> dict[int, str]:
    """Two Anvil nodes of our own, by chain id."""
    logs = tmp_path_factory.mktemp("anvils")
    started = []
    try:
        for chain_id in (CHAIN_A, CHAIN_B):
            started.append(
                anvil(free_port(), chain_id=chain_id, log_path=logs / f"anvil-{chain_id}.log").start()
            )
        urls = {chain_id: server.url for chain_id, server in zip((CHAIN_A, CHAIN_B), started, strict=True)}
        for chain_id, url in urls.items():
            assert int(rpc(url, "eth_chainId", []), 16) == chain_id
            place_contract(url, TOKEN, TOKEN_RUNTIME)
        yield urls
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def stack(nodes, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("two-chain-stack")
    chains_file = state_dir / "chains.json"
    chains_file.write_text(
        json.dumps(
            {
                "chains": [
                    {"chain_id": cid, "rpc_urls": [url], "confirmations": 0} for cid, url in nodes.items()
                ]
            }
        )
    )
    with running_stack(state_dir, extra_env={"BLOCKHOOK_CHAINS_FILE": str(chains_file)}) as local:
        yield local


def head(url: str) -> int:
    return int(rpc(url, "eth_blockNumber", []), 16)


def settle(stack, nodes: dict[int, str]) -> None:
    """Wait until the matcher has processed every chain's head, then give the deliver poller time."""
    for chain_id, url in nodes.items():
        stack.wait_processed(chain_id, head(url))
    time.sleep(2.5)  # an extra delivery of these blocks, if the product made one, is sent by now


def events_of(receiver: WebhookReceiver) -> list[dict]:
    return [event for payload in receiver.payloads() for event in payload["events"]]


def monitor_body(url: str, chain_ids: list[int], watched: str, name: str) -> dict:
    kinds = ["native_transfer", "erc20_transfer"]
    return builders.monitor_body(url, name=name, chain_ids=chain_ids, kinds=kinds, addresses=[watched])


def test_the_stack_runs_no_node_of_its_own(stack):
    assert stack.rpc is None
    assert not (stack.state_dir / "logs" / "anvil.log").exists()
    assert set(stack.chains()) == {CHAIN_A, CHAIN_B}


def test_each_chain_delivers_its_own_events_with_its_chain_id(stack, nodes):
    watched = "0x" + "a1" * 20
    sender = ANVIL_ACCOUNTS[1]
    with WebhookReceiver() as both, WebhookReceiver() as only_b:
        on_both = stack.create_monitor(monitor_body(both.url, [CHAIN_A, CHAIN_B], watched, "both chains"))
        on_b = stack.create_monitor(monitor_body(only_b.url, [CHAIN_B], watched, "chain B only"))
        sent = {
            chain_id: [
                send_tx(url, sender, watched, value=1000 + chain_id),
                token_transfer(url, TOKEN, sender, watched, 2000 + chain_id),
            ]
            for chain_id, url in nodes.items()
        }
        assert all(receipt["status"] == "0x1" for receipts in sent.values() for receipt in receipts)
        both.wait_for(lambda seen: sum(len(r.json()["events"]) for r in seen) >= 4, timeout=45)
        only_b.wait_for(lambda seen: sum(len(r.json()["events"]) for r in seen) >= 2, timeout=45)
        settle(stack, nodes)
        both.verify_all(on_both["secret"])
        only_b.verify_all(on_b["secret"])

    expected = {
        chain_id: sorted(
            [
                (chain_id, "native_transfer", receipts[0]["transactionHash"], str(1000 + chain_id)),
                (chain_id, "erc20_transfer", receipts[1]["transactionHash"], str(2000 + chain_id)),
            ]
        )
        for chain_id, receipts in sent.items()
    }
    for payload in both.payloads():
        assert payload["monitor_id"] == on_both["id"]
        assert {event["chain_id"] for event in payload["events"]} == {payload["chain_id"]}
        block = rpc(
            nodes[payload["chain_id"]], "eth_getBlockByNumber", [hex(payload["block"]["number"]), False]
        )
        assert payload["block"]["hash"] == block["hash"], "the block hash is not that chain's block"
    got_both = sorted((e["chain_id"], e["kind"], e["tx_hash"], e["value"]) for e in events_of(both))
    assert got_both == sorted(expected[CHAIN_A] + expected[CHAIN_B])

    for payload in only_b.payloads():
        assert payload["monitor_id"] == on_b["id"] and payload["chain_id"] == CHAIN_B
    got_b = sorted((e["chain_id"], e["kind"], e["tx_hash"], e["value"]) for e in events_of(only_b))
    assert got_b == expected[CHAIN_B], "a monitor of chain 31338 only was sent another chain's events"


def test_interleaved_activity_arrives_complete_and_in_block_order_per_chain(stack, nodes):
    watched = "0x" + "b2" * 20
    senders = ANVIL_ACCOUNTS[2:6]
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor(monitor_body(receiver.url, [CHAIN_A, CHAIN_B], watched, "interleaved"))
        sent: dict[str, tuple[int, int, str]] = {}  # tx hash -> (chain id, block, value)
        for n in range(20):
            chain_id = (CHAIN_A, CHAIN_B)[n % 2]
            value = 10_000 + n
            receipt = send_tx(nodes[chain_id], senders[n % len(senders)], watched, value=value)
            assert receipt["status"] == "0x1"
            sent[receipt["transactionHash"]] = (chain_id, int(receipt["blockNumber"], 16), str(value))
        receiver.wait_for(lambda seen: sum(len(r.json()["events"]) for r in seen) >= len(sent), timeout=60)
        settle(stack, nodes)
        receiver.verify_all(monitor["secret"])

    payloads = receiver.payloads()
    events = [event for payload in payloads for event in payload["events"]]
    got = {event["tx_hash"]: (event["chain_id"], event["block_number"], event["value"]) for event in events}
    assert got == sent
    assert len(events) == len(sent), "an event arrived twice"
    for chain_id in (CHAIN_A, CHAIN_B):
        numbers = [payload["block"]["number"] for payload in payloads if payload["chain_id"] == chain_id]
        assert numbers == sorted(numbers), f"chain {chain_id}: blocks delivered out of order: {numbers}"
        assert len(numbers) == 10
    for payload in payloads:
        assert payload["removed"] is False
        assert {event["block_number"] for event in payload["events"]} == {payload["block"]["number"]}
        assert {event["chain_id"] for event in payload["events"]} == {payload["chain_id"]}


def test_chains_endpoint_reports_both_chains_progress(stack, nodes):
    rpc(nodes[CHAIN_A], "anvil_mine", ["0x7"])  # the heads differ: a mix-up of the chains would show
    for chain_id, url in nodes.items():
        send_tx(url, ANVIL_ACCOUNTS[7], "0x" + "c3" * 20, value=1)
        stack.wait_processed(chain_id, head(url))
    answer = stack.call("GET", "/chains")
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert sorted(item["chain_id"] for item in items) == [CHAIN_A, CHAIN_B]
    for item in items:
        assert set(item) == {"chain_id", "head", "last_processed", "lag_blocks", "traces", "safe", "finalized",
                             "status", "head_moved_at"}  # fmt: skip
        assert (item["traces"], item["status"]) == (True, "live"), item  # Anvil serves traces; its head moved
        assert item["safe"] is not None and item["finalized"] is not None, item
        node_head = head(nodes[item["chain_id"]])
        assert item["head"] == node_head, item  # nothing was mined since it was processed
        assert item["last_processed"] == node_head, item
        assert item["lag_blocks"] == 0, item
