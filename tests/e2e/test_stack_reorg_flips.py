"""The whole local stack on a chain that flips A, B, A: its RPC URL is a proxy that fails over from one
node to another on another fork and back (two Anvil nodes with one genesis, not peered). Monitors with
0 and 2 confirmations get A's events, A's removal, B's events, B's removal and A's events again, each
in a delivery of its own, over the stack's own Kafka, matcher function and deliver function."""

from __future__ import annotations

import json

import pytest

from blockhook.local.servers import anvil, free_port
from tests.support.builders import monitor_body
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.fault_proxy import FaultProxy
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
GENESIS_TIMESTAMP = 1_700_000_000  # the same genesis block on both nodes


@pytest.fixture(scope="module")
def forks(tmp_path_factory):
    logs = tmp_path_factory.mktemp("forks")
    nodes = []
    try:
        for name in ("a", "b"):
            node = anvil(free_port(), chain_id=CHAIN_ID, log_path=logs / f"anvil-{name}.log")
            node.argv += ["--timestamp", str(GENESIS_TIMESTAMP)]
            nodes.append(node.start())
        yield tuple(node.url for node in nodes)
    finally:
        for node in nodes:
            node.stop()


def test_a_chain_that_flips_a_b_a_is_sent_taken_back_and_sent_again(forks, tmp_path):
    a, b = forks
    watched = "0x" + "f1" * 20
    with FaultProxy(a) as proxy:
        chains_file = tmp_path / "chains.json"
        chains_file.write_text(
            json.dumps({"chains": [{"chain_id": CHAIN_ID, "rpc_urls": [proxy.url], "confirmations": 0}]})
        )
        extra_env = {"BLOCKHOOK_CHAINS_FILE": str(chains_file), "BLOCKHOOK_POLL_INTERVAL": "0.25"}
        with (
            running_stack(tmp_path, extra_env=extra_env) as stack,
            WebhookReceiver() as at_once,
            WebhookReceiver() as careful,
        ):
            stack.wait_processed(CHAIN_ID, 0, timeout=60)
            monitors = [create_monitor(stack, at_once.url, watched, 0), create_monitor(stack, careful.url, watched, 2)]

            a1 = send_tx(a, ANVIL_ACCOUNTS[6], watched, value=777)["blockHash"]
            rpc(a, "anvil_mine", ["0x2"])  # two blocks on A1: deep enough for `careful`
            for receiver in (at_once, careful):
                receiver.wait_for(timeout=30)

            b1 = send_tx(b, ANVIL_ACCOUNTS[6], watched, value=888)["blockHash"]
            rpc(b, "anvil_mine", ["0x3"])  # B is longer
            proxy.switch_upstream(b)  # the provider fails over to a node on another fork
            for receiver in (at_once, careful):
                receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)

            rpc(a, "anvil_mine", ["0x2"])  # A grows longer again
            proxy.switch_upstream(a)  # and the provider is back on it
            for receiver, monitor in ((at_once, monitors[0]), (careful, monitors[1])):
                receiver.wait_for(lambda seen: len(seen) >= 5, timeout=30)
                # Per event id, in the order received (each flip waited for the one before; the removal
                # of one fork and the events of the other come from one step, in either order).
                states: dict[str, list[tuple[str, bool]]] = {}
                for payload in receiver.payloads():
                    for event in payload["events"]:
                        states.setdefault(event["id"], []).append((payload["block"]["hash"], payload["removed"]))
                assert sorted(states.values()) == sorted(
                    [
                        [(a1, False), (a1, True), (a1, False)],  # the last one tells: A1's event stands
                        [(b1, False), (b1, True)],
                    ]
                )
                ids = [request.header("Blockhook-Delivery-Id") for request in receiver.requests]
                assert len(set(ids)) == 5
                receiver.verify_all(monitor["secret"])
            assert rpc(a, "eth_getBlockByNumber", ["0x1", False])["hash"] == a1  # A1 really came back


def create_monitor(stack, url: str, watched: str, confirmations: int) -> dict:
    name = f"flips, {confirmations} confirmations"
    body = monitor_body(url, name=name, chain_ids=[CHAIN_ID], kinds=["native_transfer"], addresses=[watched],
                        confirmations=confirmations)
    return stack.create_monitor(body)
