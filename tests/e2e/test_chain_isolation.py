"""One chain's node answering garbage, or not answering at all, for as long as it likes, holds up no other
chain: the local stack serves two Anvil nodes, the first one listed behind a fault proxy. While that node
answers garbage or hangs, the other chain's events keep being delivered; the first chain waits at the
block it could not read, and once its node heals, its events held back meanwhile are delivered too
(nothing skipped)."""

from __future__ import annotations

import json
import threading

import pytest

from blockhook.local.servers import anvil, free_port
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.fault_proxy import (
    FaultProxy,
    ProxiedRequest,
    http_error,
    is_json_rpc,
    json_rpc_error,
    json_rpc_result,
    malformed_json,
    seeded_share,
)
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

SICK, HEALTHY = 31341, 31342
GARBAGE = [
    malformed_json(),
    json_rpc_result({"garbage": True}),
    json_rpc_result("0xnot-hex", kind="bad_quantity"),
    json_rpc_result(None, kind="null_result"),
    json_rpc_result([1, 2, 3], kind="list_result"),
    json_rpc_error(),
    http_error(502),
]


HANG_BOUND = 120.0  # a held request is answered at the latest then, long after the client gave up


class Sickness:
    """What the sick node does now: answer (None), answer garbage, or hang until released."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.released = threading.Event()
        self.held = 0
        self._garbage = seeded_share(1.0, GARBAGE, seed=11, where=is_json_rpc)

    def plan(self, request: ProxiedRequest):
        if self.mode == "garbage":
            return self._garbage(request)
        if self.mode == "hang" and is_json_rpc(request):
            self.held += 1
            self.released.wait(HANG_BOUND)
            return http_error(504, kind="hung")(request)
        return None


@pytest.fixture(scope="module")
def sickness() -> Sickness:
    return Sickness()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, sickness):
    """Both nodes by chain id, and the proxy the sick chain is served through."""
    logs = tmp_path_factory.mktemp("isolation-anvils")
    started = [anvil(free_port(), chain_id=cid, log_path=logs / f"anvil-{cid}.log").start() for cid in (SICK, HEALTHY)]

    def plan(request: ProxiedRequest):
        return sickness.plan(request)

    try:
        with FaultProxy(started[0].url, plan) as proxy:
            yield {SICK: started[0].url, HEALTHY: started[1].url}, proxy
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="module")
def stack(nodes, tmp_path_factory):
    urls, proxy = nodes
    state_dir = tmp_path_factory.mktemp("isolation-stack")
    chains_file = state_dir / "chains.json"
    chains = [{"chain_id": SICK, "rpc_urls": [proxy.url], "confirmations": 0},  # listed first
              {"chain_id": HEALTHY, "rpc_urls": [urls[HEALTHY]], "confirmations": 0}]  # fmt: skip
    chains_file.write_text(json.dumps({"chains": chains}))
    with running_stack(state_dir, extra_env={"BLOCKHOOK_CHAINS_FILE": str(chains_file)}) as local:
        yield local


def transfers(receiver: WebhookReceiver) -> dict[str, tuple[int, str]]:
    return {e["tx_hash"]: (e["chain_id"], e["value"]) for p in receiver.payloads() for e in p["events"]}


def test_a_node_answering_garbage_or_hanging_holds_up_only_its_own_chain(stack, nodes, sickness):
    urls, proxy = nodes
    watched, sender = "0x" + "e5" * 20, ANVIL_ACCOUNTS[5]
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor({
            "name": "both chains", "chain_ids": [SICK, HEALTHY], "webhook_url": receiver.url,
            "filters": {"kinds": ["native_transfer"], "addresses": [watched]},
        })  # fmt: skip

        # Both healthy: both deliver.
        first = {cid: send_tx(urls[cid], sender, watched, value=100 + cid)["transactionHash"] for cid in urls}
        receiver.wait_for(lambda seen: set(first.values()) <= set(transfers(receiver)), timeout=60)

        sickness.mode = "garbage"
        held_back = [send_tx(urls[SICK], sender, watched, value=200 + n)["transactionHash"] for n in range(2)]
        went_on = []
        for n in range(3):  # each one delivered while the other node answers nothing but garbage
            went_on.append(send_tx(urls[HEALTHY], sender, watched, value=300 + n)["transactionHash"])
            receiver.wait_for(lambda seen: went_on[-1] in transfers(receiver), timeout=60)
        assert proxy.injected() > 0
        sickness.mode = "hang"
        for n in range(3, 5):  # and while it hangs
            went_on.append(send_tx(urls[HEALTHY], sender, watched, value=300 + n)["transactionHash"])
            receiver.wait_for(lambda seen: went_on[-1] in transfers(receiver), timeout=60)
        assert sickness.held > 0
        assert not set(held_back) & set(transfers(receiver)), "the sick chain moved on past what it could not read"

        sickness.mode = None  # healed: the sick chain carries on from the block it waited at
        sickness.released.set()
        receiver.wait_for(lambda seen: set(held_back) <= set(transfers(receiver)), timeout=90)
        for cid, url in urls.items():
            stack.wait_processed(cid, int(rpc(url, "eth_blockNumber", []), 16))
        receiver.verify_all(monitor["secret"])

    got = transfers(receiver)
    assert {got[tx] for tx in held_back} == {(SICK, "200"), (SICK, "201")}
    assert {got[tx] for tx in went_on} == {(HEALTHY, str(300 + n)) for n in range(5)}
    events = [e["tx_hash"] for p in receiver.payloads() for e in p["events"]]
    assert len(events) == len(set(events)) == 9, "an event was lost or sent twice"
