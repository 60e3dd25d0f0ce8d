"""Endpoint health: a monitor whose endpoint keeps failing is marked degraded, its
deliveries wait without hammering the endpoint, nothing is dropped, and the first success sends the
backlog at once; other monitors' deliveries are never held up, in the deliver function's batch either.

DeliveryService against DynamoDB and SQS on a moto server, real webhook receivers on 127.0.0.1, and a
clock the test moves, so that waits of the schedule pass without sleeping."""

from __future__ import annotations

import json
import random
import time
import uuid

import boto3
import pytest

from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.local.lambdas import LocalFunction
from blockhook.store import deliveries as delivery_store
from blockhook.store import monitors as monitor_store
from blockhook.store.endpoint_health import DEGRADED_AFTER_FAILURES, is_degraded
from blockhook.store.secret_box import configured_secret_box
from tests.integration.test_delivery_service import drain, enqueue_one, secret_of
from tests.support.builders import create_monitor, sqs_event
from tests.support.receiver import WebhookReceiver, delay, status

pytestmark = pytest.mark.integration

WAIT = 100  # every step of the schedule used here: seconds the test's clock jumps over


class NoJitter(random.Random):
    """Every wait exactly its step, so the test knows which attempts are due."""

    def uniform(self, a: float, b: float) -> float:
        return 1.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_service(queue_url: str, clock: Clock, steps: int = 20) -> DeliveryService:
    return DeliveryService(
        DeliveryQueue(queue_url, client=boto3.client("sqs")),
        (WAIT,) * steps,
        allow_private_webhooks=True,
        box=configured_secret_box(),
        clock=clock,
        rng=NoJitter(),
    )


def stored(monitor):
    return monitor_store.get_monitor(monitor.tenant_id, monitor.monitor_id)


def test_a_failing_endpoint_is_degraded_probed_once_per_wait_and_its_backlog_sent_on_recovery(
    queue_url, tenant_id, chain_id
):
    deliveries = DEGRADED_AFTER_FAILURES + 3
    failures = [status(500)] * (DEGRADED_AFTER_FAILURES + 1)
    with WebhookReceiver(*failures) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        clock = Clock()
        service = make_service(queue_url, clock)
        ids = [enqueue_one(service, monitor, chain_id) for _ in range(deliveries)]
        drain(queue_url)

        # The first DEGRADED_AFTER_FAILURES attempts reach the endpoint; the rest are spent unsent.
        assert [service.attempt(delivery_id) for delivery_id in ids] == ["retrying"] * deliveries
        assert len(receiver.requests) == DEGRADED_AFTER_FAILURES
        health = stored(monitor)
        assert is_degraded(health) and "HTTP 500" in health.last_failure
        assert int(health.probe_at) == int(clock.now + WAIT)
        unsent = delivery_store.get_delivery(ids[-1])
        assert unsent.status == "retrying" and unsent.last_error.startswith("not sent: endpoint degraded since")
        assert unsent.last_status_code is None

        # Once the wait is over, one attempt probes; the others still wait. The probe fails too.
        clock.now += WAIT + 1
        assert [service.attempt(delivery_id) for delivery_id in ids] == ["retrying"] * deliveries
        assert len(receiver.requests) == DEGRADED_AFTER_FAILURES + 1
        assert int(stored(monitor).probe_at) == int(clock.now + WAIT)  # pushed out again
        drain(queue_url)

        # The endpoint is back (the receiver answers 200 from now on): the next probe delivers, and
        # every waiting delivery is made due and queued at once, not at its own next attempt time.
        clock.now += WAIT + 1
        assert service.attempt(ids[0]) == "delivered"
        queued = drain(queue_url)
        assert sorted(queued) == sorted(ids[1:])
        assert [service.attempt(delivery_id) for delivery_id in queued] == ["delivered"] * (deliveries - 1)
        healed = stored(monitor)
        assert not is_degraded(healed) and int(healed.consecutive_failures) == 0
        assert healed.failing_since is None and healed.last_failure is None and healed.probe_at is None
        delivered = receiver.requests[len(failures):]  # the receiver answers 200 once its failures are used
        receiver.verify_all(secret_of(monitor))
    assert sorted(request.header("Blockhook-Delivery-Id") for request in delivered) == sorted(ids)


def test_a_degraded_endpoint_whose_deliveries_run_out_of_attempts_fails_them_replayably(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver(*[status(503)] * 50) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        clock = Clock()
        service = make_service(queue_url, clock, steps=DEGRADED_AFTER_FAILURES + 1)
        delivery_id = enqueue_one(service, monitor, chain_id)
        outcomes = []
        for _ in range(DEGRADED_AFTER_FAILURES + 2):
            outcomes.append(service.attempt(delivery_id))
            clock.now += WAIT + 1
    assert outcomes[-1] == "failed" and outcomes.count("failed") == 1
    record = delivery_store.get_delivery(delivery_id)
    assert record.status == "failed" and int(record.attempts) == DEGRADED_AFTER_FAILURES + 2


def test_a_successful_test_delivery_heals_a_degraded_monitor_and_sends_its_backlog(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver(*[status(500)] * DEGRADED_AFTER_FAILURES) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        clock = Clock()
        service = make_service(queue_url, clock)
        ids = [enqueue_one(service, monitor, chain_id) for _ in range(DEGRADED_AFTER_FAILURES + 1)]
        drain(queue_url)
        for delivery_id in ids:
            service.attempt(delivery_id)
        assert is_degraded(stored(monitor))

        assert service.send_test(stored(monitor)).ok
        assert not is_degraded(stored(monitor))
        queued = drain(queue_url)
        assert sorted(queued) == sorted(ids)
        assert {service.attempt(delivery_id) for delivery_id in queued} == {"delivered"}


def test_a_new_webhook_url_forgets_the_old_endpoints_failures_and_sends_what_waits(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver() as working:
        monitor = create_monitor(tenant_id, chain_id, webhook_url="http://127.0.0.1:9/dead")  # the discard port
        clock = Clock()
        service = make_service(queue_url, clock)
        ids = [enqueue_one(service, monitor, chain_id) for _ in range(DEGRADED_AFTER_FAILURES)]
        drain(queue_url)
        for delivery_id in ids:
            service.attempt(delivery_id)
        assert is_degraded(stored(monitor))

        moved = monitor_store.update_monitor(stored(monitor), {"webhook_url": working.url})
        assert service.endpoint_changed(moved) == len(ids)
        queued = drain(queue_url)
        assert {service.attempt(delivery_id) for delivery_id in queued} == {"delivered"}
        assert len(working.requests) == len(ids)
    assert not is_degraded(stored(monitor))


def test_a_healthy_endpoint_costs_no_health_write(queue_url, tenant_id, chain_id):
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, Clock())
        delivery_id = enqueue_one(service, monitor, chain_id)
        drain(queue_url)
        before = stored(monitor)
        assert service.attempt(delivery_id) == "delivered"
    after = stored(monitor)
    assert (after.updated_at, after.version, int(after.consecutive_failures)) == (
        before.updated_at, before.version, 0
    )


@pytest.fixture
def deliver_function(moto_endpoint, queue_url, monkeypatch):
    from blockhook import wiring
    from blockhook.config import settings

    monkeypatch.setenv("BLOCKHOOK_DELIVERY_QUEUE_URL", queue_url)
    monkeypatch.setenv("BLOCKHOOK_MODE", "local")
    monkeypatch.setenv("BLOCKHOOK_RETRY_SCHEDULE", "60")
    settings.cache_clear()
    wiring.delivery_service.cache_clear()
    yield LocalFunction("deliver", timeout_seconds=60)
    monkeypatch.undo()
    settings.cache_clear()
    wiring.delivery_service.cache_clear()


def test_a_slow_endpoint_holds_up_no_other_monitor_and_each_monitor_is_posted_in_order(
    deliver_function, queue_url, tenant_id, chain_id
):
    slow_seconds = 3.0
    with WebhookReceiver(delay(slow_seconds)) as slow, WebhookReceiver() as fast:
        service = make_service(queue_url, Clock())
        slow_monitor = create_monitor(tenant_id, chain_id, webhook_url=slow.url)
        fast_monitor = create_monitor(tenant_id, chain_id, webhook_url=fast.url)
        slow_ids = [enqueue_one(service, slow_monitor, chain_id) for _ in range(3)]
        fast_id = enqueue_one(service, fast_monitor, chain_id)
        drain(queue_url)
        # The slow endpoint's messages first: handled one after the other, the fast endpoint would be
        # posted to only once the slow one had answered all three.
        sent = [(delivery_id, slow_monitor) for delivery_id in slow_ids] + [(fast_id, fast_monitor)]
        messages = [
            {"MessageId": str(uuid.uuid4()), "ReceiptHandle": str(uuid.uuid4()),
             "Body": json.dumps({"delivery_id": delivery_id, "monitor_id": monitor.monitor_id})}
            for delivery_id, monitor in sent
        ]
        answer = deliver_function.invoke(sqs_event(messages))
        assert answer == {"batchItemFailures": []}
        slow_requests = slow.requests
        (fast_request,) = fast.requests
    assert fast_request.received_at < slow_requests[0].received_at + slow_seconds
    # One monitor's deliveries in the batch's order, each posted once the one before was answered.
    assert [request.header("Blockhook-Delivery-Id") for request in slow_requests] == slow_ids
    assert slow_requests[1].received_at >= slow_requests[0].received_at + slow_seconds
    for delivery_id in [*slow_ids, fast_id]:
        assert delivery_store.get_delivery(delivery_id).status == "delivered"

