"""A delivery whose DynamoDB write took effect but whose answer was lost (a 500 after the write: DynamoDB
says such a write may or may not have been applied) is neither stuck nor posted twice.

The SDK sends the write again, and a conditional write then fails its own condition, since the first
one changed the item: the delivery must tell that from another message's claim or a replay's.
DeliveryService on the moto server, the deliveries table behind a FaultProxy that carries out one
chosen write and answers it 500, a real webhook receiver."""

from __future__ import annotations

import threading

import pytest

from blockhook.store import deliveries as delivery_store
from blockhook.store.models import DeliveryModel
from tests.integration.test_delivery_service import drain, enqueue_one, make_service, run_queue
from tests.support.builders import create_monitor
from tests.support.fault_proxy import FaultProxy, ProxiedRequest, aws_error
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.integration


class LoseOneAnswer:
    """A plan: once armed, the next DynamoDB UpdateItem whose body holds `marker` is carried out and
    answered 500; everything else passes."""

    def __init__(self) -> None:
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self.lost = 0
        self._fault = aws_error(500, "InternalServerError", applied=True)

    def arm(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def __call__(self, request: ProxiedRequest):
        if request.header("X-Amz-Target") != "DynamoDB_20120810.UpdateItem":
            return None
        with self._lock:
            if self._marker is None or self._marker not in request.body:
                return None
            self._marker = None
            self.lost += 1
        return self._fault(request)


@pytest.fixture
def lost_answers(moto_endpoint):
    """The deliveries table behind a proxy that loses the answer of the write it is armed for."""
    plan = LoseOneAnswer()
    with FaultProxy(moto_endpoint, plan) as proxy:
        host = DeliveryModel.Meta.host
        DeliveryModel.Meta.host = proxy.url
        DeliveryModel._connection = None  # the next call connects to the proxy
        try:
            yield plan
        finally:
            DeliveryModel.Meta.host = host
            DeliveryModel._connection = None


def test_a_claim_written_but_answered_500_still_posts_the_delivery(
    queue_url, tenant_id, chain_id, lost_answers
):
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0,))
        delivery_id = enqueue_one(service, monitor, chain_id)
        assert drain(queue_url) == [delivery_id]

        lost_answers.arm(b"claim_token")
        assert service.attempt(delivery_id) == "delivered"

        assert lost_answers.lost == 1
        assert [request.json()["id"] for request in receiver.requests] == [delivery_id]
        record = delivery_store.get_delivery(delivery_id)
        assert (record.status, int(record.attempts), record.claim_token) == ("delivered", 1, None)


def test_a_failed_attempt_recorded_but_answered_500_is_still_retried(
    queue_url, tenant_id, chain_id, lost_answers
):
    with WebhookReceiver(status(500)) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0, 0))
        delivery_id = enqueue_one(service, monitor, chain_id)
        assert drain(queue_url) == [delivery_id]

        lost_answers.arm(b"last_attempt_at")  # the write that records the attempt's outcome
        assert service.attempt(delivery_id) == "retrying"
        assert lost_answers.lost == 1
        # The retry is queued, and the attempt counted once: the schedule is not shortened.
        record = delivery_store.get_delivery(delivery_id)
        assert (record.status, int(record.attempts), record.replayed_at_attempt) == ("retrying", 1, None)
        assert run_queue(service, queue_url) == ["delivered"]

    assert [request.json()["id"] for request in receiver.requests] == [delivery_id, delivery_id]
    record = delivery_store.get_delivery(delivery_id)
    assert (record.status, int(record.attempts)) == ("delivered", 2)
