"""Delivery faults, each test asserting that nothing is lost: a receiver that answers 500, times out,
closes the connection, or is down for a while and then up; the deliver function killed mid-batch; and a
malformed queue message, which the redrive policy parks in the dead-letter queue.

DeliveryService against DynamoDB and SQS on the moto server, real webhook receivers on 127.0.0.1, and a
clock the test moves, so that the schedule's waits pass without sleeping. The kill is a real SIGKILL of
the deliver Lambda handler running in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass

import boto3
import pytest

from blockhook.delivery import service as service_module
from blockhook.delivery.service import ATTEMPT_LEASE_SECONDS, FINAL_STATUSES
from blockhook.delivery.signing import DELIVERY_ID_HEADER
from blockhook.local.servers import REPO_ROOT, free_port
from blockhook.local.sqs_poller import SqsPoller
from blockhook.store import deliveries as delivery_store
from blockhook.store.endpoint_health import DEGRADED_AFTER_FAILURES
from tests.integration.test_delivery_service import drain, enqueue_one, run_queue, secret_of
from tests.integration.test_endpoint_health import WAIT, Clock, deliver_function, make_service  # noqa: F401 (fixture)
from tests.support.builders import create_monitor, sqs_event
from tests.support.receiver import (
    Behaviour,
    RecordedRequest,
    WebhookReceiver,
    close_connection,
    delay,
    status,
)

pytestmark = pytest.mark.integration

FAST_TIMEOUT_SECONDS = 1.0  # the webhook timeout while a receiver times out (10 s in production)
FAILED_POSTS = DEGRADED_AFTER_FAILURES + 1  # the posts that degrade the endpoint, then one failed probe
NOT_SENT = "not sent: endpoint degraded since"
HANGING_SECONDS = 120.0  # far longer than the test waits before the kill


@dataclass(frozen=True)
class ReceiverFault:
    name: str
    behaviour: Behaviour | None  # what the receiver does with a failed post; None: nothing listens
    error: str  # the delivery log's last_error after such a post


RECEIVER_FAULTS = [
    ReceiverFault("answers 500", status(500), "HTTP 500"),
    ReceiverFault(
        "times out",
        delay(5 * FAST_TIMEOUT_SECONDS),
        f"timeout: no answer within {FAST_TIMEOUT_SECONDS:g}s",
    ),
    ReceiverFault("closes the connection", close_connection(), "connection closed without answer"),
    ReceiverFault("is down for a while then up", None, "connection refused"),
]


def delivery_ids(requests: list[RecordedRequest]) -> list[str]:
    return [request.header(DELIVERY_ID_HEADER) for request in requests]


def deduped(requests: list[RecordedRequest]) -> dict[str, RecordedRequest]:
    """What a receiver that dedupes by Blockhook-Delivery-Id keeps: the first request of each delivery.

    A repeat must be the very same bytes, or deduping by id would hide a difference."""
    kept: dict[str, RecordedRequest] = {}
    for request in requests:
        first = kept.setdefault(request.header(DELIVERY_ID_HEADER), request)
        assert first.body == request.body, f"delivery {request.header(DELIVERY_ID_HEADER)} changed between posts"
    return kept


def event_ids(requests: list[RecordedRequest]) -> list[str]:
    return [event["id"] for request in requests for event in request.json()["events"]]


def recorded_event_ids(ids: list[str]) -> list[str]:
    return [
        event["id"] for delivery_id in ids
        for event in json.loads(delivery_store.get_delivery(delivery_id).payload)["events"]
    ]


def retry_due(service, clock: Clock, ids: list[str]) -> list[str]:
    """Hand over the delayed retry messages whose time has come on the test's clock, as SQS would.

    (Their real SQS messages wait WAIT real seconds: the test acts for them.)"""
    records = [delivery_store.get_delivery(delivery_id) for delivery_id in ids]
    due = [
        record.delivery_id for record in records
        if record.status not in FINAL_STATUSES
        and (record.next_attempt_at is None or record.next_attempt_at <= clock.now)
    ]
    return [service.attempt(delivery_id) for delivery_id in due]


# --- receiver faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", RECEIVER_FAULTS, ids=lambda fault: fault.name)
def test_when_a_receiver_fails_every_delivery_still_arrives_once_and_other_monitors_are_not_held_up(
    fault, queue_url, tenant_id, chain_id, monkeypatch
):
    monkeypatch.setattr(service_module, "WEBHOOK_TIMEOUT_SECONDS", FAST_TIMEOUT_SECONDS)
    clock = Clock()
    service = make_service(queue_url, clock)
    with ExitStack() as stack:
        if fault.behaviour is None:
            failing = WebhookReceiver(port=free_port())  # not started: the port refuses connections
            stack.callback(failing.stop)
        else:
            # Answers 200 once its faults are used up: the endpoint is back.
            failing = stack.enter_context(WebhookReceiver(*[fault.behaviour] * FAILED_POSTS))
        healthy = [stack.enter_context(WebhookReceiver()) for _ in range(2)]
        failing_monitor = create_monitor(tenant_id, chain_id, webhook_url=failing.url)
        healthy_monitors = [create_monitor(tenant_id, chain_id, webhook_url=receiver.url) for receiver in healthy]
        # 8 deliveries, the healthy monitors' ones queued among the failing monitor's.
        order = [failing_monitor, healthy_monitors[0], failing_monitor, failing_monitor, healthy_monitors[1],
                 failing_monitor, failing_monitor, failing_monitor]
        queued = [(monitor, enqueue_one(service, monitor, chain_id)) for monitor in order]
        failing_ids = [delivery_id for monitor, delivery_id in queued if monitor is failing_monitor]
        healthy_ids = [delivery_id for monitor, delivery_id in queued if monitor is not failing_monitor]

        # First attempts: DEGRADED_AFTER_FAILURES posts fail, the endpoint is degraded, the last one is
        # spent unsent. The healthy monitors' deliveries go through at once.
        run_queue(service, queue_url)
        for delivery_id in healthy_ids:
            record = delivery_store.get_delivery(delivery_id)
            assert (record.status, int(record.attempts), int(record.last_status_code)) == ("delivered", 1, 200)
        log, _ = delivery_store.list_deliveries(failing_monitor.monitor_id, None, 50, None)
        assert sorted(record.delivery_id for record in log) == sorted(failing_ids)
        assert {(record.status, int(record.attempts)) for record in log} == {("retrying", 1)}
        errors = Counter(NOT_SENT if record.last_error.startswith(NOT_SENT) else record.last_error for record in log)
        assert errors == {fault.error: DEGRADED_AFTER_FAILURES, NOT_SENT: len(failing_ids) - DEGRADED_AFTER_FAILURES}
        unsent = next(record for record in log if record.last_error.startswith(NOT_SENT))
        assert unsent.last_error.endswith(f"(last failure: {fault.error})") and unsent.last_status_code is None

        # One wait later, one probe goes out and fails as well; the others are spent unsent again.
        clock.now += WAIT + 1
        assert retry_due(service, clock, failing_ids) == ["retrying"] * len(failing_ids)
        probed = [record for record in map(delivery_store.get_delivery, failing_ids) if record.last_error == fault.error]
        assert len(probed) == 1 and int(probed[0].attempts) == 2
        if fault.behaviour is None:
            failing.start()  # the endpoint comes up, on the port its URL names
        else:
            assert len(failing.requests) == FAILED_POSTS

        # The next probe is answered 200: the backlog is queued at once and goes through.
        for _ in range(5):
            clock.now += WAIT + 1
            retry_due(service, clock, failing_ids)
            run_queue(service, queue_url)
            if {delivery_store.get_delivery(delivery_id).status for delivery_id in failing_ids} == {"delivered"}:
                break

        failing_requests = failing.verify_all(secret_of(failing_monitor))
        for receiver, monitor in zip(healthy, healthy_monitors, strict=True):
            receiver.verify_all(secret_of(monitor))
        healthy_requests = [request for receiver in healthy for request in receiver.requests]

    for delivery_id in failing_ids:
        record = delivery_store.get_delivery(delivery_id)
        assert (record.status, int(record.last_status_code), record.last_error) == ("delivered", 200, None)
        assert int(record.attempts) >= 2
    answered_200 = failing_requests[FAILED_POSTS:] if fault.behaviour is not None else failing_requests
    assert sorted(delivery_ids(answered_200)) == sorted(failing_ids)  # each delivered exactly once
    assert sorted(delivery_ids(healthy_requests)) == sorted(healthy_ids)
    kept = deduped(failing_requests)
    assert sorted(kept) == sorted(failing_ids)
    assert Counter(event_ids(list(kept.values()))) == Counter(recorded_event_ids(failing_ids))
    assert max(Counter(event_ids(list(kept.values()))).values()) == 1


# --- the deliver function killed mid-batch -----------------------------------------------------------

DELIVER_SCRIPT = """\
import json
import sys

from blockhook.local.lambdas import LocalFunction

event = json.loads(open(sys.argv[1]).read())
LocalFunction("deliver", timeout_seconds=60).invoke(event)
print("batch done", flush=True)
"""


def test_a_deliver_function_killed_mid_batch_loses_no_delivery(queue_url, tenant_id, chain_id, tmp_path):
    with WebhookReceiver(delay(HANGING_SECONDS)) as hanging, WebhookReceiver() as first, WebhookReceiver() as second:
        receivers = {"hanging": hanging, "first": first, "second": second}
        monitors = {name: create_monitor(tenant_id, chain_id, webhook_url=receiver.url) for name, receiver in receivers.items()}
        service = make_service(queue_url, Clock())
        placement = ["first", "hanging", "second", "first", "second", "first"]
        ids = [enqueue_one(service, monitors[name], chain_id) for name in placement]
        (hanging_id,) = [delivery_id for delivery_id, name in zip(ids, placement, strict=True) if name == "hanging"]

        # The batch the event source mapping would hand over; in flight for longer than the test runs.
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
        assert sorted(json.loads(message["Body"])["delivery_id"] for message in messages) == sorted(ids)
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        (tmp_path / "event.json").write_text(json.dumps(sqs_event(messages, queue_arn)))
        (tmp_path / "deliver.py").write_text(DELIVER_SCRIPT)
        env = dict(
            os.environ,
            BLOCKHOOK_DELIVERY_QUEUE_URL=queue_url,
            BLOCKHOOK_MODE="local",
            PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "layers/shared/python"), str(REPO_ROOT)]),
        )
        assert env["BLOCKHOOK_SECRETS_KEY_ID"] and env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        with open(tmp_path / "deliver.log", "wb") as log:
            function = subprocess.Popen(
                [sys.executable, str(tmp_path / "deliver.py"), str(tmp_path / "event.json")],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            )
            try:
                # Every post of the batch has reached its receiver; the hanging one is still unanswered.
                for name, receiver in receivers.items():
                    expected = placement.count(name)
                    receiver.wait_for(lambda seen, expected=expected: len(seen) >= expected, timeout=60)
                function.send_signal(signal.SIGKILL)
            finally:
                function.kill()
                function.wait(timeout=30)
        output = (tmp_path / "deliver.log").read_text()
        assert function.returncode == -signal.SIGKILL, output
        assert "batch done" not in output
        after_kill = {delivery_id: delivery_store.get_delivery(delivery_id) for delivery_id in ids}
        assert after_kill[hanging_id].status == "pending"  # claimed, posted, never answered
        assert after_kill[hanging_id].next_attempt_at is not None  # held by the attempt's lease
        assert any(record.status != "delivered" for record in after_kill.values())

        # The visibility timeout ends: SQS hands the same messages over again, here to a deliver side whose
        # clock is past the dead attempt's lease.
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                     for n, message in enumerate(messages)],
        )
        clock = Clock()
        clock.now += ATTEMPT_LEASE_SECONDS + 1
        outcomes = run_queue(make_service(queue_url, clock), queue_url)
        assert len(outcomes) >= len(ids) and set(outcomes) == {"delivered"}
        assert drain(queue_url) == []
        requests = {
            name: receiver.verify_all(secret_of(monitors[name])) for name, receiver in receivers.items()
        }

    assert {delivery_id: delivery_store.get_delivery(delivery_id).status for delivery_id in ids} == dict.fromkeys(
        ids, "delivered"
    )
    every_request = [request for seen in requests.values() for request in seen]
    assert Counter(delivery_ids(every_request)).keys() == set(ids)  # each at least once
    assert delivery_ids(requests["hanging"]) == [hanging_id, hanging_id]  # the dead post, then the retry
    for delivery_id, record in after_kill.items():
        if record.status == "delivered":  # settled before the kill: not posted again
            assert delivery_ids(every_request).count(delivery_id) == 1
    kept = deduped(every_request)
    assert sorted(kept) == sorted(ids)
    assert Counter(event_ids(list(kept.values()))) == Counter(recorded_event_ids(ids))
    assert max(Counter(event_ids(list(kept.values()))).values()) == 1


def test_a_malformed_message_goes_to_the_dead_letter_queue_and_holds_up_nothing(
    deliver_function, queue_url, tenant_id, chain_id  # noqa: F811 (the fixture imported above)
):
    # The moto server's SQS applies the redrive policy as SQS does: after maxReceiveCount receives of a
    # message that was never deleted, it moves to the dead-letter queue.
    sqs = boto3.client("sqs")
    dead_letters = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(
        QueueName=f"work-{uuid.uuid4().hex[:8]}",
        Attributes={"VisibilityTimeout": "1",
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        delivery_id = enqueue_one(make_service(queue_url, Clock()), monitor, chain_id)
        drain(queue_url)
        sqs.send_message(QueueUrl=work, MessageBody="{not json")
        sqs.send_message(QueueUrl=work, MessageBody=json.dumps({"delivery_id": delivery_id, "monitor_id": monitor.monitor_id}))
        poller = SqsPoller(deliver_function, work)
        poller.start()
        try:
            parked: list[dict] = []
            give_up_at = time.monotonic() + 30
            while not parked and time.monotonic() < give_up_at:
                parked = sqs.receive_message(QueueUrl=dead_letters, WaitTimeSeconds=1).get("Messages", [])
        finally:
            poller.stop()
        (request,) = receiver.requests
    assert [message["Body"] for message in parked] == ["{not json"]
    assert request.header("Blockhook-Delivery-Id") == delivery_id
    assert delivery_store.get_delivery(delivery_id).status == "delivered"
    assert sqs.receive_message(QueueUrl=work, WaitTimeSeconds=2).get("Messages", []) == []
