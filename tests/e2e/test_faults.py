"""Faults under the whole local stack, each test asserting that nothing is lost.

The stack runs against a node and an AWS endpoint of this module's own, each behind a FaultProxy
(tests/support/fault_proxy.py): the chains file points the chain at the RPC proxy in front of our
Anvil, AWS_ENDPOINT_URL at the AWS proxy in front of our moto server. A test programs its proxy's
faults, sends transfers straight to Anvil, and checks what a WebhookReceiver got: every transfer,
each event in exactly one delivery (a delivery may arrive twice: at-least-once, same id and body).
"""

from __future__ import annotations

import time

import pytest

from blockhook.delivery import signing
from blockhook.local.servers import anvil, free_port
from tests.e2e.conftest import head, stack_behind_proxies
from tests.support import builders
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    TOKEN_RUNTIME,
    place_contract,
    send_tx,
    token_transfer,
)
from tests.support.fault_proxy import (
    Windows,
    bursts,
    first_of,
    http_error,
    is_json_rpc,
    json_rpc_error,
    malformed_json,
    seeded_share,
    throttle_dynamodb,
)
from tests.support.local_stack import LocalStack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

CHAIN_ID = 31337
TOKEN = "0x00000000000000000000000000000000000e2e50"
# Seed 26 draws all five kinds within its first 16 decisions; ingest makes more requests than that.
RPC_FAULT_SEED = 26
RPC_FAULT_SHARE = 0.3  # a call fails for good only after 3 faulted rounds: 2.7 %, then the next poll
RPC_FAULTS = {
    "http_429": http_error(429, "Too Many Requests"),
    "http_502": http_error(502, "Bad Gateway"),
    "http_503": http_error(503, "Service Unavailable"),
    "malformed_json": malformed_json(),
    "json_rpc_error": json_rpc_error(-32000, "injected node fault: internal error"),
}
# And now and then a run of 503s longer than the RPC client's 3 rounds: the ingest poll itself fails.
RPC_BURST_PERIOD, RPC_BURST_LENGTH = 30, 4
THROTTLE_ON_SECONDS = 6.0  # longer than botocore's retries of one call (3 retries, at most 7 s, ~3.5 s typical)
THROTTLE_OFF_SECONDS = 4.0
THROTTLE_SHARE, THROTTLE_SEED = 0.15, 11  # and between the windows, a random share of the calls
# Four on-windows: fewer than the queue's maxReceiveCount (5), so no delivery message is dead-lettered
# by this test's throttling alone (a deliver run fails at most once per window).
THROTTLE_PHASE_SECONDS = 36.0
# The stack's queue hides a message whose deliver run failed for 60 s (the cloud's, six deliver
# timeouts); a few seconds keep a throttled deliver's retry within this test's time. maxReceiveCount
# (5, then the dead-letter queue) is left as it is.


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> str:
    server = anvil(free_port(), chain_id=CHAIN_ID, log_path=tmp_path_factory.mktemp("anvil") / "anvil.log").start()
    try:
        place_contract(server.url, TOKEN, TOKEN_RUNTIME)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(rpc_proxy, aws_proxy, aws_endpoint, node, tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("fault-stack")
    with stack_behind_proxies(
        state_dir, CHAIN_ID, rpc_proxy, aws_proxy, aws_endpoint, node, retry_schedule="1,1,2", poll_interval=0.25,  # more polls, so more requests meet the faults
    ) as local:
        yield local


@pytest.fixture(autouse=True)
def faults_off_afterwards(rpc_proxy, aws_proxy):
    yield
    rpc_proxy.plan = None
    aws_proxy.plan = None


def monitor_body(url: str, watched: list[str], name: str) -> dict:
    kinds = ["native_transfer", "erc20_transfer"]
    return builders.monitor_body(url, name=name, chain_ids=[CHAIN_ID], kinds=kinds, addresses=watched)


def distinct_deliveries(receiver: WebhookReceiver) -> dict[str, dict]:
    """The payloads by delivery id, in order of first arrival; a repeat must be the same body."""
    by_id: dict[str, dict] = {}
    for request in receiver.requests:
        payload = request.json()
        delivery_id = request.header(signing.DELIVERY_ID_HEADER)
        assert delivery_id == payload["id"]
        if delivery_id in by_id:
            assert by_id[delivery_id] == payload, f"delivery {delivery_id} arrived twice with different bodies"
        else:
            by_id[delivery_id] = payload
    return by_id


def tx_hashes_seen(requests) -> set[str]:
    return {event["tx_hash"] for request in requests for event in request.json()["events"]}


def assert_each_event_once_and_complete(receiver: WebhookReceiver, sent: dict[str, tuple]) -> dict[str, dict]:
    """Each sent transfer arrived, as (kind, to, value); each event id in exactly one delivery."""
    deliveries = distinct_deliveries(receiver)
    events = [event for payload in deliveries.values() for event in payload["events"]]
    ids = [event["id"] for event in events]
    repeated = sorted({event_id for event_id in ids if ids.count(event_id) > 1})
    assert not repeated, f"events recorded in more than one delivery: {repeated}"
    got = {event["tx_hash"]: (event["kind"], event["to"], event["value"]) for event in events}
    assert got == sent, f"missing: {sorted(set(sent) - set(got))}, unexpected: {sorted(set(got) - set(sent))}"
    return deliveries


def settle(stack: LocalStack, node: str) -> None:
    """The matcher has processed the node's head, and the deliver poller had time for any extra."""
    stack.wait_processed(CHAIN_ID, head(node), timeout=90)
    time.sleep(2.5)


def test_rpc_node_faults_lose_no_transfer_and_repeat_none(stack, node, rpc_proxy):
    watched = ["0x" + "f1" * 20, "0x" + "f2" * 20]
    sender = ANVIL_ACCOUNTS[1]
    log_start = len(stack.output())
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor(monitor_body(receiver.url, watched, "rpc faults"))
        rpc_proxy.plan = first_of(
            bursts(RPC_BURST_PERIOD, RPC_BURST_LENGTH, http_error(503, kind="http_503_burst"), where=is_json_rpc),
            seeded_share(RPC_FAULT_SHARE, list(RPC_FAULTS.values()), RPC_FAULT_SEED, where=is_json_rpc),
        )
        sent: dict[str, tuple] = {}  # tx hash -> (kind, to, value)
        for n in range(20):
            to, value = watched[n % 2], 1000 + n
            if n % 3 == 2:
                receipt = token_transfer(node, TOKEN, sender, to, value)
                sent[receipt["transactionHash"]] = ("erc20_transfer", to, str(value))
            else:
                receipt = send_tx(node, sender, to, value=value)
                sent[receipt["transactionHash"]] = ("native_transfer", to, str(value))
            assert receipt["status"] == "0x1"
            time.sleep(0.4)  # spread over several ingest polls, each meeting its own faults

        receiver.wait_for(lambda seen: tx_hashes_seen(seen) >= set(sent), timeout=90)
        settle(stack, node)  # still under faults: what would arrive late or twice has arrived by now
        faults = rpc_proxy.faults
        rpc_proxy.plan = None
        receiver.verify_all(monitor["secret"])

    assert set(faults) == {*RPC_FAULTS, "http_503_burst"}, f"not every kind of fault was injected: {faults}"
    assert "ingest poll failed" in stack.output()[log_start:]  # a burst outlasted the client's retries
    deliveries = assert_each_event_once_and_complete(receiver, sent)
    numbers = sorted(payload["block"]["number"] for payload in deliveries.values())
    assert len(numbers) == len(set(numbers)) == len(sent)  # one transfer per block, one delivery each
    # Block order per chain is the order deliveries are recorded in (the log, newest first, by its
    # millisecond creation time); arrival order is not promised (README: a batch's attempts run side
    # by side, and a retry waits while later blocks do not).
    log = stack.call("GET", f"/monitors/{monitor['id']}/deliveries", params={"limit": 100}).json()
    recorded = [item["block_number"] for item in reversed(log["items"])]
    assert recorded == numbers, f"deliveries recorded out of block order: {recorded}"
    assert {item["id"] for item in log["items"]} == set(deliveries)
    for payload in deliveries.values():
        assert payload["removed"] is False and payload["chain_id"] == CHAIN_ID
        assert {event["block_number"] for event in payload["events"]} == {payload["block"]["number"]}


def test_dynamodb_throttling_loses_no_transfer_records_no_duplicate_and_fails_no_delivery(
    stack, node, aws_proxy
):
    watched = "0x" + "d1" * 20
    sender = ANVIL_ACCOUNTS[2]
    log_start, throttled_before = len(stack.output()), aws_proxy.injected("dynamodb_throttle")
    with WebhookReceiver() as receiver:
        monitor = stack.create_monitor(monitor_body(receiver.url, [watched], "dynamodb throttling"))
        windows = Windows(THROTTLE_ON_SECONDS, THROTTLE_OFF_SECONDS, throttle_dynamodb())
        aws_proxy.plan = first_of(windows, throttle_dynamodb(THROTTLE_SHARE, THROTTLE_SEED))
        windows.start()
        throttled_until = time.monotonic() + THROTTLE_PHASE_SECONDS
        sent: dict[str, tuple] = {}
        for n in range(16):
            if n % 4 == 3:
                receipt = token_transfer(node, TOKEN, sender, watched, 500 + n)
                sent[receipt["transactionHash"]] = ("erc20_transfer", watched, str(500 + n))
            else:
                receipt = send_tx(node, sender, watched, value=500 + n)
                sent[receipt["transactionHash"]] = ("native_transfer", watched, str(500 + n))
            assert receipt["status"] == "0x1"
            time.sleep(1.0)  # ~16 s: blocks land in on-windows and off-windows alike
        # Throttled on while the first deliveries go out: the deliver function meets it too.
        time.sleep(max(0.0, throttled_until - time.monotonic()))
        aws_proxy.plan = None
        throttled = aws_proxy.injected("dynamodb_throttle") - throttled_before
        windows_seen = windows.windows_entered

        receiver.wait_for(lambda seen: tx_hashes_seen(seen) >= set(sent), timeout=90)
        settle(stack, node)
        receiver.verify_all(monitor["secret"])

    assert throttled > 0 and windows_seen >= 2, (throttled, windows_seen)
    # The throttling outlasted botocore's retries: blockhook's own code saw the error (and retried).
    assert "ProvisionedThroughputExceededException" in stack.output()[log_start:]
    deliveries = assert_each_event_once_and_complete(receiver, sent)

    answer = stack.call("GET", f"/monitors/{monitor['id']}/deliveries", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    log = answer.json()
    assert log["next_cursor"] is None
    assert [item["id"] for item in log["items"] if item["status"] == "failed"] == []
    # One record per delivery that arrived, and none that did not: nothing recorded twice or lost.
    assert sorted(item["id"] for item in log["items"]) == sorted(deliveries)
    assert sum(item["event_count"] for item in log["items"]) == len(sent)
    recorded = [item["block_number"] for item in reversed(log["items"])]
    assert recorded == sorted(recorded), f"deliveries recorded out of block order: {recorded}"


def test_api_answers_a_throttled_dynamodb_with_503_and_the_error_envelope_not_500(stack, aws_proxy):
    # The product rule: no 500 from the API; DynamoDB throttled past botocore's retries is a
    # temporary unavailability: a 503 with the error envelope and a Retry-After.
    throttled_before = aws_proxy.injected("dynamodb_throttle")
    with WebhookReceiver() as receiver:
        body = monitor_body(receiver.url, ["0x" + "a5" * 20], "created after a 503")
        aws_proxy.plan = throttle_dynamodb()
        answers = {
            "POST /monitors": stack.call("POST", "/monitors", json=body),
            "GET /monitors": stack.call("GET", "/monitors"),
            "GET /chains": stack.call("GET", "/chains"),
        }
        aws_proxy.plan = None
        retried = stack.call("POST", "/monitors", json=body)
    assert aws_proxy.injected("dynamodb_throttle") > throttled_before
    seen = {route: (answer.status_code, answer.text[:200]) for route, answer in answers.items()}
    for route, answer in answers.items():
        assert answer.status_code == 503, f"{route} answered {answer.status_code} under throttling: {seen}"
        assert set(answer.json()["error"]) == {"code", "message", "details"}, seen
        assert int(answer.headers["Retry-After"]) >= 1, seen
    # What the 503 promises: the same call succeeds once the store answers again.
    assert retried.status_code == 201, retried.text
    listed = stack.call("GET", "/monitors", params={"limit": 100}).json()["items"]
    assert [m["id"] for m in listed if m["name"] == body["name"]] == [retried.json()["id"]]
