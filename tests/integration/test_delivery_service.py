"""DeliveryService against DynamoDB and SQS on a real moto server and real webhook receivers on 127.0.0.1:
retries on the attempts-based schedule, failure, replay (the whole schedule again), one POST per attempt
when messages repeat, and signatures during and after a secret rotation (CONTRACT section 4)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable

import boto3
import pytest

from blockhook.delivery import signing
from blockhook.delivery.queue import DeliveryQueue, parse_message
from blockhook.delivery.service import DeliveryService, signing_secrets
from blockhook.store import deliveries as delivery_store
from blockhook.store import monitors as monitor_store
from blockhook.store.models import MonitorModel
from blockhook.store.secret_box import configured_secret_box
from tests.support.builders import Block, create_monitor, new_address
from tests.support.receiver import RecordedRequest, WebhookReceiver, delay, status

pytestmark = pytest.mark.integration

DAY = 24 * 3600


def drain(queue_url: str) -> list[str]:
    """Every delivery id queued so far (the messages are removed)."""
    sqs = boto3.client("sqs")
    ids = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return ids
        for message in messages:
            ids.append(parse_message(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def run_queue(service: DeliveryService, queue_url: str, rounds: int = 20) -> list[str]:
    """Act on every queued message, as the deliver function would, until the queue is empty.

    Returns the statuses `attempt` gave, in order."""
    outcomes = []
    for _ in range(rounds):
        ids = drain(queue_url)
        if not ids:
            return outcomes
        outcomes += [service.attempt(delivery_id) for delivery_id in ids]
    raise AssertionError(f"queue still busy after {rounds} rounds: {outcomes}")


def make_service(queue_url: str, schedule: tuple[int, ...], clock: Callable[[], float] = time.time):
    return DeliveryService(
        DeliveryQueue(queue_url, client=boto3.client("sqs")),
        schedule,
        allow_private_webhooks=True,
        box=configured_secret_box(),
        clock=clock,
    )


def secret_of(monitor: MonitorModel) -> str:
    """The monitor's current secret in the clear (the table holds it sealed)."""
    return configured_secret_box().open(monitor.sealed_secret, monitor.monitor_id)


def rotate(monitor: MonitorModel, **options) -> MonitorModel:
    rotated, _ = monitor_store.rotate_secret(monitor, configured_secret_box(), **options)
    return rotated


def enqueue_one(service: DeliveryService, monitor: MonitorModel, chain_id: int) -> str:
    block = Block(chain_id, 42)
    block.transaction(0, new_address(), None)
    (delivery_id,) = service.enqueue(monitor.tenant_id, monitor.monitor_id, block.header, block.events)
    return delivery_id


def v1_entries(request: RecordedRequest) -> tuple[int, list[str]]:
    header = request.header(signing.SIGNATURE_HEADER) or ""
    parts = [part.partition("=") for part in header.split(",")]
    timestamp = next(int(value) for key, _, value in parts if key == "t")
    return timestamp, [value for key, _, value in parts if key == "v1"]


# --- retries and failure -------------------------------------------------------------------------


def test_a_failing_endpoint_is_retried_until_it_answers_2xx(queue_url, tenant_id, chain_id):
    with WebhookReceiver(status(500), status(500), status(503)) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0, 0, 0, 0, 0))
        delivery_id = enqueue_one(service, monitor, chain_id)

        outcomes = run_queue(service, queue_url)

        assert outcomes == ["retrying", "retrying", "retrying", "delivered"]
        requests = receiver.verify_all(secret_of(monitor))
    assert len(requests) == 4
    assert {request.header(signing.DELIVERY_ID_HEADER) for request in requests} == {delivery_id}
    assert len({request.body for request in requests}) == 1  # the very same bytes every time
    record = delivery_store.get_delivery(delivery_id)
    assert (record.status, int(record.attempts), int(record.last_status_code)) == ("delivered", 4, 200)
    assert record.last_error is None and record.next_attempt_at is None
    assert record.expires_at is not None  # kept 30 days once delivered


def test_an_exhausted_schedule_fails_and_a_replay_gets_the_whole_schedule_again(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver(*[status(500)] * 4) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0, 0, 0))
        delivery_id = enqueue_one(service, monitor, chain_id)

        assert run_queue(service, queue_url) == ["retrying", "retrying", "retrying", "failed"]
        failed = delivery_store.get_delivery(delivery_id)
        assert (failed.status, int(failed.attempts), int(failed.last_status_code)) == ("failed", 4, 500)
        assert failed.last_error == "HTTP 500" and failed.next_attempt_at is None
        assert failed.expires_at is None  # a failed delivery stays replayable
        assert run_queue(service, queue_url) == []  # nothing left queued

        # Replay: the receiver fails three more times, then takes it. Four attempts since the
        # replay fit the schedule again; counting all eight would have failed it at once.
        receiver.respond(status(500), status(500), status(500))
        delivery_store.reset_for_replay(failed)
        service.queue.send([delivery_id])
        assert run_queue(service, queue_url) == ["retrying", "retrying", "retrying", "delivered"]
        requests = receiver.verify_all(secret_of(monitor))
    assert len(requests) == 8
    record = delivery_store.get_delivery(delivery_id)
    assert (record.status, int(record.attempts), int(record.last_status_code)) == ("delivered", 8, 200)
    assert int(record.replayed_at_attempt) == 4


def test_a_replayed_delivered_delivery_is_posted_again(queue_url, tenant_id, chain_id):
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0,))
        delivery_id = enqueue_one(service, monitor, chain_id)
        assert run_queue(service, queue_url) == ["delivered"]
        assert run_queue(service, queue_url) == []

        service.queue.send([delivery_id])  # a duplicate message of a settled delivery posts nothing
        assert run_queue(service, queue_url) == ["delivered"]
        assert len(receiver.requests) == 1

        replayed = delivery_store.reset_for_replay(delivery_store.get_delivery(delivery_id))
        assert (replayed.status, replayed.next_attempt_at, replayed.expires_at) == ("pending", None, None)
        service.queue.send([delivery_id])
        assert run_queue(service, queue_url) == ["delivered"]
        requests = receiver.verify_all(secret_of(monitor))
    assert len(requests) == 2 and requests[0].body == requests[1].body
    assert int(delivery_store.get_delivery(delivery_id).attempts) == 2


def test_a_replay_of_a_retrying_delivery_posts_now_and_its_old_message_posts_nothing(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver(status(500)) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (3600, 3600))
        delivery_id = enqueue_one(service, monitor, chain_id)
        assert service.attempt(drain(queue_url)[0]) == "retrying"
        # 3600 s with the schedule's +-20% jitter: at least 2880 s ahead.
        assert delivery_store.get_delivery(delivery_id).next_attempt_at > time.time() + 0.8 * 3600 - 5
        # Its retry message waits in the queue (delayed); without a replay it would not be posted yet:
        assert service.attempt(delivery_id) == "retrying" and len(receiver.requests) == 1

        delivery_store.reset_for_replay(delivery_store.get_delivery(delivery_id))
        assert service.attempt(delivery_id) == "delivered"
        # The old delayed message arrives later: the delivery is settled, nothing is posted.
        assert service.attempt(delivery_id) == "delivered"
    assert len(receiver.requests) == 2


def test_two_messages_for_one_delivery_at_once_post_it_once(queue_url, tenant_id, chain_id):
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, (0,))
        delivery_id = enqueue_one(service, monitor, chain_id)
        drain(queue_url)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=lambda: outcomes.append(service.attempt(delivery_id))) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        run_queue(service, queue_url)  # a message that found the claim held re-queued itself: no post either

    assert len(receiver.requests) == 1
    assert "delivered" in outcomes
    record = delivery_store.get_delivery(delivery_id)
    assert (record.status, int(record.attempts)) == ("delivered", 1)


def test_a_stale_read_cannot_claim_an_attempt(queue_url, tenant_id, chain_id):
    monitor = create_monitor(tenant_id, chain_id)
    delivery_id = enqueue_one(make_service(queue_url, (0,)), monitor, chain_id)
    first, second = delivery_store.get_delivery(delivery_id), delivery_store.get_delivery(delivery_id)
    assert delivery_store.claim_attempt(first, time.time() + 60) is not None
    assert delivery_store.claim_attempt(second, time.time() + 60) is None


def test_a_replay_while_the_last_attempt_is_in_flight_is_not_lost(queue_url, tenant_id, chain_id):
    # The attempt in flight is the schedule's last and fails: without the claim it would settle the
    # replayed delivery as `failed` after the API had answered 202, and the replay would post nothing.
    with WebhookReceiver(delay(1.5, status(500))) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = make_service(queue_url, ())
        delivery_id = enqueue_one(service, monitor, chain_id)
        drain(queue_url)
        outcome: list[str] = []
        in_flight = threading.Thread(target=lambda: outcome.append(service.attempt(delivery_id)))
        in_flight.start()
        receiver.wait_for()
        delivery_store.reset_for_replay(delivery_store.get_delivery(delivery_id))
        service.queue.send([delivery_id])  # what the replay route queues
        in_flight.join(timeout=30)

        assert outcome == ["replayed"]
        record = delivery_store.get_delivery(delivery_id)
        assert (record.status, record.next_attempt_at, int(record.attempts)) == ("pending", None, 1)
        assert (int(record.last_status_code), int(record.replayed_at_attempt)) == (500, 1)
        assert run_queue(service, queue_url) == ["delivered"]  # the replay's message sends it
    assert len(receiver.requests) == 2
    record = delivery_store.get_delivery(delivery_id)
    assert (record.status, int(record.attempts), record.claim_token) == ("delivered", 2, None)


def test_a_drain_does_not_make_an_attempt_in_flight_due_again(queue_url, tenant_id, chain_id):
    monitor = create_monitor(tenant_id, chain_id)
    delivery_id = enqueue_one(make_service(queue_url, (0,)), monitor, chain_id)
    claimed = delivery_store.get_delivery(delivery_id)
    assert delivery_store.claim_attempt(claimed, time.time() + 60) is not None
    # The endpoint recovered meanwhile: the drain reads the claimed record, whose lease looks like a wait.
    assert delivery_store.make_due(delivery_store.get_delivery(delivery_id)) is False
    assert delivery_store.get_delivery(delivery_id).next_attempt_at is not None


# --- secret rotation -------------------------------------------------------------------------------


def test_during_a_rotation_both_secrets_sign_and_after_24_hours_only_the_new_one(
    queue_url, tenant_id, chain_id
):
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        old_secret = secret_of(monitor)
        rotated_at = time.time()
        monitor, new_secret = monitor_store.rotate_secret(monitor, configured_secret_box(), now=rotated_at)
        assert new_secret == secret_of(monitor) and new_secret != old_secret
        assert configured_secret_box().open(monitor.sealed_previous_secret, monitor.monitor_id) == old_secret
        assert int(monitor.previous_secret_expires_at) == int(rotated_at) + DAY

        during = make_service(queue_url, (0,), clock=lambda: rotated_at + DAY - 60)
        enqueue_one(during, monitor, chain_id)
        assert run_queue(during, queue_url) == ["delivered"]

        after = make_service(queue_url, (0,), clock=lambda: rotated_at + DAY + 1)
        enqueue_one(after, monitor, chain_id)
        assert run_queue(after, queue_url) == ["delivered"]
        first, second = receiver.requests

    timestamp, entries = v1_entries(first)
    assert timestamp == int(rotated_at + DAY - 60)
    assert entries == [
        signing.sign(new_secret, timestamp, first.body),
        signing.sign(old_secret, timestamp, first.body),
    ]
    header = first.header(signing.SIGNATURE_HEADER)
    for secret in (old_secret, new_secret):
        assert signing.verify(header, first.body, secret, now=timestamp)

    timestamp, entries = v1_entries(second)
    assert entries == [signing.sign(new_secret, timestamp, second.body)]
    header = second.header(signing.SIGNATURE_HEADER)
    assert signing.verify(header, second.body, new_secret, now=timestamp)
    assert not signing.verify(header, second.body, old_secret, now=timestamp)


def test_a_second_rotation_keeps_only_the_secret_it_replaces(tenant_id, chain_id):
    monitor = create_monitor(tenant_id, chain_id)
    first = secret_of(monitor)
    second = secret_of(rotate(monitor))
    third_monitor = rotate(monitor_store.get_monitor(tenant_id, monitor.monitor_id))
    signing_with = signing_secrets(third_monitor, time.time(), configured_secret_box())
    assert signing_with == [secret_of(third_monitor), second]
    assert first not in signing_with


def test_a_rotation_from_a_stale_read_still_keeps_the_secret_in_use(tenant_id, chain_id):
    monitor = create_monitor(tenant_id, chain_id)
    stale = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    in_use = rotate(monitor).sealed_secret
    # The stale copy still holds the first secret: the conditional write reads again and rotates on top.
    rotated = rotate(stale)
    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id)
    assert (stored.sealed_secret, stored.sealed_previous_secret) == (rotated.sealed_secret, in_use)


def test_a_rotation_of_a_deleted_monitor_raises_not_found(tenant_id, chain_id):
    monitor = create_monitor(tenant_id, chain_id)
    monitor_store.delete_monitor(monitor)
    with pytest.raises(monitor_store.MonitorNotFound):
        rotate(monitor)


def test_no_secret_reaches_the_logs(queue_url, tenant_id, chain_id, caplog, capsys):
    # blockhook's own records at every level; the AWS libraries' DEBUG dumps of whole items are theirs.
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="blockhook")
    with WebhookReceiver(status(500)) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        old_secret = secret_of(monitor)
        monitor = rotate(monitor)
        service = make_service(queue_url, ())
        enqueue_one(service, monitor, chain_id)
        assert run_queue(service, queue_url) == ["failed"]
        service.send_test(monitor)
    captured = capsys.readouterr()
    for secret in (old_secret, secret_of(monitor)):
        assert secret not in caplog.text and secret not in captured.out and secret not in captured.err
    assert json.loads(receiver.requests[1].body)["test"] is True


def test_a_wait_longer_than_sqs_allows_hops_through_delayed_messages(queue_url, tenant_id, chain_id):
    sent: list[int] = []
    sqs = boto3.client("sqs")
    real_send = sqs.send_message_batch

    def spy(**request):
        sent.extend(entry.get("DelaySeconds", 0) for entry in request["Entries"])
        return real_send(**request)

    sqs.send_message_batch = spy
    now = [time.time()]
    with WebhookReceiver(status(500)) as receiver:
        monitor = create_monitor(tenant_id, chain_id, webhook_url=receiver.url)
        service = DeliveryService(DeliveryQueue(queue_url, client=sqs), (3600,), allow_private_webhooks=True,
                                  box=configured_secret_box(), clock=lambda: now[0])
        delivery_id = enqueue_one(service, monitor, chain_id)
        drain(queue_url)
        sent.clear()
        assert service.attempt(delivery_id) == "retrying"
        due_at = float(delivery_store.get_delivery(delivery_id).next_attempt_at)
        assert sent == [900]  # SQS's longest delay; the message is not receivable yet
        assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []

        now[0] += 900  # the delayed message arrives: still early, so it hops with the remaining wait
        assert service.attempt(delivery_id) == "retrying" and len(receiver.requests) == 1
        assert sent[1] == min(900, math.ceil(due_at - now[0]))
        now[0] = due_at  # the last hop arrives when the attempt is due
        assert service.attempt(delivery_id) == "delivered"
    assert len(receiver.requests) == 2
