"""The delivery routes of CONTRACT section 2 (delivery log, replay, test delivery, secret rotation), through
the deployed API handler against a moto server, with real webhook receivers on 127.0.0.1.

Deliveries are recorded by DeliveryService.enqueue as the matcher records them; the queue the API
replays into is drained here and each message handed to DeliveryService.attempt, as the deliver
function does."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from blockhook.api.auth import tenant_of_local_key
from blockhook.delivery import signing
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.local.servers import free_port
from blockhook.store import deliveries as delivery_store
from blockhook.store.deliveries import get_delivery, record_attempt
from blockhook.store.secret_box import configured_secret_box
from tests.integration.test_delivery_service import drain, run_queue, v1_entries
from tests.support.api import Api, assert_error, clear_api_caches, local_api
from tests.support.builders import UNUSED_WEBHOOK, Block, api_event, monitor_body
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.integration

KEY_A, KEY_B = "delivery-routes-key-a", "delivery-routes-key-b"
CHAIN_ID = 31337
CHAINS = {"chains": [{"chain_id": CHAIN_ID, "rpc_urls": ["http://127.0.0.1:9"]}]}
UNUSED_URL = UNUSED_WEBHOOK  # nothing answers
SENDER = "0x" + "5e" * 20
ITEM_FIELDS = {
    "id",
    "status",
    "retrying",
    "chain_id",
    "sequence",
    "block_number",
    "block_hash",
    "removed",
    "event_count",
    "attempts",
    "last_status_code",
    "last_error",
    "last_latency_ms",
    "next_attempt_at",
    "created_at",
    "last_attempt_at",
    "origin",
}
DAY = 24 * 3600


@pytest.fixture(scope="module")
def api(moto_endpoint) -> Api:
    queue_url = boto3.client("sqs").create_queue(QueueName="replays-" + uuid.uuid4().hex[:8])["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(
            patch,
            [KEY_A, KEY_B],
            CHAINS,
            {"name": "deliveries", "chain_ids": [CHAIN_ID], "webhook_url": UNUSED_URL},
            BLOCKHOOK_DELIVERY_QUEUE_URL=queue_url,
            BLOCKHOOK_RATE_LIMIT="100000",  # these tests are not about throttling
            BLOCKHOOK_RATE_BURST="100000",
        )
    clear_api_caches()


@pytest.fixture
def service(api) -> DeliveryService:
    """The deliver side, on the queue the API replays into; emptied first, so each test sees its own."""
    service = DeliveryService(
        DeliveryQueue(api.queue_url, client=boto3.client("sqs")), (), allow_private_webhooks=True, box=configured_secret_box()
    )
    drain(api.queue_url)
    return service


def record(service: DeliveryService, monitor: dict[str, Any], number: int = 7, events: int = 1) -> str:
    """One recorded (and queued) delivery of `events` events in a new block."""
    block = Block(CHAIN_ID, number)
    for n in range(events):
        block.transaction(n, SENDER, None)
    (delivery_id,) = service.enqueue(tenant_of_local_key(KEY_A), monitor["id"], block.header, block.events)
    return delivery_id


def record_in_order(service: DeliveryService, monitor: dict[str, Any], count: int) -> list[str]:
    """`count` deliveries, each created in a later millisecond than the one before (the log's order)."""
    ids = []
    for number in range(count):
        created = int(time.time() * 1000)
        while int(time.time() * 1000) == created:
            time.sleep(0.001)
        ids.append(record(service, monitor, number=100 + number))
    return ids


# --- the delivery log --------------------------------------------------------------------------------


def test_the_log_lists_deliveries_newest_first_in_pages_with_their_state(api, service):
    monitor = api.create()
    oldest, retrying, failed, pending, newest = record_in_order(service, monitor, 5)
    record_attempt(
        get_delivery(oldest),
        status="delivered",
        status_code=204,
        error=None,
        latency_ms=12,
        next_attempt_at=None,
    )
    due = time.time() + 600
    record_attempt(
        get_delivery(retrying),
        status="retrying",
        status_code=500,
        error="HTTP 500",
        latency_ms=7,
        next_attempt_at=due,
    )
    record_attempt(
        get_delivery(failed),
        status="failed",
        status_code=None,
        error="connection refused",
        latency_ms=3,
        next_attempt_at=None,
    )

    pages = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={quote(cursor)}" if cursor else "")
        answer = api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries{query}")
        body = answer.body
        assert answer.status == 200, answer.raw
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [[newest, pending], [failed, retrying], [oldest]]
    listed = api.deliveries(monitor["id"])
    assert [item["id"] for item in listed] == [newest, pending, failed, retrying, oldest]
    assert all(set(item) == ITEM_FIELDS for item in listed)
    assert [item["sequence"] for item in listed] == [5, 4, 3, 2, 1]
    by_id = {item["id"]: item for item in listed}

    stored = get_delivery(retrying)
    assert by_id[retrying] == {
        "id": retrying,
        "status": "pending",
        "retrying": True,
        "chain_id": CHAIN_ID,
        "sequence": 2,  # the second delivery of the monitor on the chain
        "block_number": int(stored.block_number),
        "block_hash": stored.block_hash,
        "removed": False,
        "event_count": 1,
        "attempts": 1,
        "last_status_code": 500,
        "last_error": "HTTP 500",
        "last_latency_ms": 7,
        "next_attempt_at": int(due),
        "created_at": int(stored.created_at) // 1000,
        "last_attempt_at": int(stored.last_attempt_at),
        "origin": "live",
    }
    assert (by_id[oldest]["status"], by_id[oldest]["retrying"], by_id[oldest]["last_status_code"]) == (
        "delivered",
        False,
        204,
    )
    assert (by_id[failed]["status"], by_id[failed]["last_status_code"], by_id[failed]["last_error"]) == (
        "failed",
        None,
        "connection refused",
    )
    assert by_id[newest] | {"id": None, "block_number": None, "block_hash": None, "created_at": None} == {
        "id": None,
        "status": "pending",
        "retrying": False,
        "chain_id": CHAIN_ID,
        "sequence": 5,
        "block_number": None,
        "block_hash": None,
        "removed": False,
        "event_count": 1,
        "attempts": 0,
        "last_status_code": None,
        "last_error": None,
        "last_latency_ms": None,
        "next_attempt_at": None,
        "created_at": None,
        "last_attempt_at": None,
        "origin": "live",
    }
    assert abs(by_id[newest]["created_at"] - time.time()) < 3600  # seconds, like every time in the API

    assert [item["id"] for item in api.deliveries(monitor["id"], "status=pending")] == [newest, pending, retrying]
    assert [item["id"] for item in api.deliveries(monitor["id"], "status=delivered")] == [oldest]
    assert [item["id"] for item in api.deliveries(monitor["id"], "status=failed")] == [failed]
    assert [item["id"] for item in api.deliveries(monitor["id"], "status=failed&limit=1")] == [failed]


def test_a_filtered_page_reads_a_bounded_number_of_items_and_its_cursor_goes_on(api, service, monkeypatch):
    monitor = api.create()
    oldest, *others = record_in_order(service, monitor, 5)
    record_attempt(
        get_delivery(oldest),
        status="failed",
        status_code=500,
        error="HTTP 500",
        latency_ms=1,
        next_attempt_at=None,
    )
    monkeypatch.setattr(delivery_store, "_READ_PAGE_SIZE", 2)
    monkeypatch.setattr(delivery_store, "MAX_ITEMS_READ_PER_PAGE", 2)

    answer = api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries?status=failed")
    first = answer.body
    assert answer.status == 200, answer.raw
    assert first["items"] == [] and first["next_cursor"]  # two pending ones read, none taken
    assert [item["id"] for item in api.deliveries(monitor["id"], "status=failed")] == [oldest]
    assert [item["id"] for item in api.deliveries(monitor["id"], "status=pending&limit=3")] == list(reversed(others))


def test_an_empty_log(api):
    monitor = api.create()
    assert api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries").body == {
        "items": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "query", ["status=retrying", "status=", "status=PENDING", "limit=0", "limit=101", "limit=x"]
)
def test_a_bad_log_query_answers_422(api, query):
    monitor = api.create()
    assert_error(
        api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries?{query}"), 422, "validation_failed"
    )


def test_a_log_cursor_of_another_monitor_or_made_up_answers_400(api, service):
    first, second = api.create(), api.create()
    record_in_order(service, first, 2)
    answer = api.call("GET", f"/v1/monitors/{first['id']}/deliveries?limit=1")
    page = answer.body
    assert page["next_cursor"], answer.raw
    path = f"/v1/monitors/{second['id']}/deliveries?cursor="
    assert_error(api.call("GET", path + quote(page["next_cursor"])), 400, "invalid_cursor")
    assert_error(api.call("GET", path + "e30"), 400, "invalid_cursor")
    assert_error(api.call("GET", path + "not-a-cursor!"), 400, "invalid_cursor")


def test_another_tenant_gets_404_for_every_delivery_route(api, service):
    monitor = api.create()
    delivery_id = record(service, monitor)
    base = f"/v1/monitors/{monitor['id']}"
    assert_error(api.call("GET", base + "/deliveries", key=KEY_B), 404, "not_found")
    assert_error(api.call("POST", f"{base}/deliveries/{delivery_id}/replay", key=KEY_B), 404, "not_found")
    assert_error(api.call("POST", base + "/test", key=KEY_B), 404, "not_found")
    assert_error(api.call("POST", base + "/rotate-secret", key=KEY_B), 404, "not_found")
    # B's own monitor cannot reach A's delivery either.
    theirs = api.create(key=KEY_B)
    assert_error(
        api.call("POST", f"/v1/monitors/{theirs['id']}/deliveries/{delivery_id}/replay", key=KEY_B),
        404,
        "not_found",
    )
    assert api.call("GET", base).body["updated_at"] == monitor["updated_at"]  # no rotation happened
    assert get_delivery(delivery_id).status == "pending" and run_queue(service, api.queue_url) == ["failed"]


def test_a_delivery_of_another_monitor_of_the_same_tenant_answers_404(api, service):
    mine, other = api.create(), api.create()
    delivery_id = record(service, mine)
    assert_error(
        api.call("POST", f"/v1/monitors/{other['id']}/deliveries/{delivery_id}/replay"), 404, "not_found"
    )


@pytest.mark.parametrize(
    "delivery_id", ["dlv_" + "0" * 32, "nope", "dlv_" + "0" * 3000, "%00", "dlv_test_abc"]
)
def test_replaying_a_delivery_that_does_not_exist_answers_404(api, delivery_id):
    monitor = api.create()
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/deliveries/{delivery_id}/replay")
    assert_error(answer, 404, "not_found")


def test_the_routes_of_a_monitor_that_does_not_exist_answer_404(api):
    base = "/v1/monitors/mon_000000000000000000000000"
    assert_error(api.call("GET", base + "/deliveries"), 404, "not_found")
    assert_error(api.call("POST", base + "/deliveries/dlv_" + "0" * 32 + "/replay"), 404, "not_found")
    assert_error(api.call("POST", base + "/test"), 404, "not_found")
    assert_error(api.call("POST", base + "/rotate-secret"), 404, "not_found")


def test_the_delivery_routes_need_a_key(api):
    monitor = api.create()
    base = f"/v1/monitors/{monitor['id']}"
    for method, path in (
        ("GET", "/deliveries"),
        ("POST", "/test"),
        ("POST", "/rotate-secret"),
        ("POST", "/deliveries/dlv_" + "0" * 32 + "/replay"),
    ):
        assert_error(api.call(method, base + path, key=None), 401, "unauthorized")


# --- replay -------------------------------------------------------------------------------------------


def test_replaying_a_failed_then_a_delivered_delivery_posts_it_again(api, service):
    with WebhookReceiver(status(500)) as receiver:
        monitor = api.create(webhook_url=receiver.url)
        delivery_id = record(service, monitor)
        assert run_queue(service, api.queue_url) == ["failed"]  # no retries in this service's schedule

        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/deliveries/{delivery_id}/replay")
        body = answer.body
        assert answer.status == 202, answer.raw
        assert (body["id"], body["status"], body["retrying"], body["attempts"]) == (
            delivery_id,
            "pending",
            False,
            1,
        )
        assert body["next_attempt_at"] is None and body["last_status_code"] == 500  # history kept
        assert run_queue(service, api.queue_url) == ["delivered"]
        assert [item["status"] for item in api.deliveries(monitor["id"])] == ["delivered"]

        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/deliveries/{delivery_id}/replay")
        body = answer.body
        assert (answer.status, body["status"]) == (202, "pending"), answer.raw
        assert run_queue(service, api.queue_url) == ["delivered"]
        requests = receiver.verify_all(monitor["secret"])

    assert len(requests) == 3
    assert {request.header(signing.DELIVERY_ID_HEADER) for request in requests} == {delivery_id}
    assert len({request.body for request in requests}) == 1
    assert json.loads(requests[0].body)["sequence"] == 1  # a replay keeps its number and takes none
    (chain,) = api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]
    assert chain["last_sequence"] == 1
    (entry,) = api.deliveries(monitor["id"])
    assert (entry["status"], entry["attempts"], entry["last_status_code"], entry["last_error"]) == (
        "delivered",
        3,
        200,
        None,
    )


def test_a_replayed_delivery_gets_the_whole_retry_schedule_again(api):
    with WebhookReceiver(*[status(500)] * 5) as receiver:
        monitor = api.create(webhook_url=receiver.url)
        retrying = DeliveryService(
            DeliveryQueue(api.queue_url, client=boto3.client("sqs")), (0, 0), allow_private_webhooks=True, box=configured_secret_box()
        )
        drain(api.queue_url)
        delivery_id = record(retrying, monitor)
        assert run_queue(retrying, api.queue_url) == ["retrying", "retrying", "failed"]
        assert api.deliveries(monitor["id"], "status=failed")[0]["attempts"] == 3

        assert api.call("POST", f"/v1/monitors/{monitor['id']}/deliveries/{delivery_id}/replay").status == 202
        assert run_queue(retrying, api.queue_url) == ["retrying", "retrying", "delivered"]
    assert len(receiver.requests) == 6


# --- test delivery ------------------------------------------------------------------------------------


def test_a_test_delivery_is_signed_shaped_like_a_delivery_and_recorded_without_a_sequence(api, service):
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        body = answer.body
        assert answer.status == 200, answer.raw
        assert set(body) == {"status_code", "ok", "error", "latency_ms", "delivery_id"}
        assert (body["status_code"], body["ok"], body["error"]) == (200, True, None)
        assert isinstance(body["latency_ms"], int) and body["latency_ms"] >= 0
        (request,) = receiver.verify_all(monitor["secret"])

    assert request.method == "POST" and request.path == "/webhook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == signing.USER_AGENT
    delivery_id = request.header(signing.DELIVERY_ID_HEADER)
    assert delivery_id.startswith("dlv_test_") and len(delivery_id) > len("dlv_test_")
    payload = request.json()
    assert list(payload) == ["id", "monitor_id", "chain_id", "block", "removed", "events", "test"]
    assert payload["id"] == delivery_id and payload["monitor_id"] == monitor["id"]
    assert (payload["chain_id"], payload["removed"], payload["events"], payload["test"]) == (
        CHAIN_ID,
        False,
        [],
        True,
    )
    assert set(payload["block"]) == {"number", "hash", "parent_hash", "timestamp"}
    assert body["delivery_id"] == delivery_id
    # Recorded in the log, settled by its one attempt, and not queued.
    (logged,) = api.deliveries(monitor["id"])
    assert (logged["id"], logged["origin"], logged["status"], logged["attempts"]) == (delivery_id, "test", "delivered", 1)
    assert logged["sequence"] is None
    assert run_queue(service, api.queue_url) == []
    # Not a delivery of the chain: no sequence, and it takes none.
    assert [chain["last_sequence"] for chain in api.call("GET", f"/v1/monitors/{monitor['id']}").body["chains"]] == [0]

    with WebhookReceiver() as again:
        api.call("PATCH", f"/v1/monitors/{monitor['id']}", {"webhook_url": again.url})
        api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        (second,) = again.requests
    assert second.header(signing.DELIVERY_ID_HEADER) != delivery_id  # a new id each time


def test_a_test_delivery_reports_an_error_answer(api):
    with WebhookReceiver(status(500, "down for maintenance")) as receiver:
        monitor = api.create(webhook_url=receiver.url)
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        body = answer.body
        assert len(receiver.verify_all(monitor["secret"])) == 1
    assert answer.status == 200, answer.raw
    assert body["status_code"] == 500 and body["ok"] is False and body["error"] == "HTTP 500"


def test_a_test_delivery_to_a_closed_port_reports_no_status(api):
    monitor = api.create(webhook_url=f"http://127.0.0.1:{free_port()}/hook")
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
    body = answer.body
    assert answer.status == 200, answer.raw
    assert body["status_code"] is None and body["ok"] is False and body["error"] == "connection refused"
    assert monitor["secret"] not in answer.raw


def test_the_cloud_url_policy_applies_to_test_deliveries(api, monkeypatch):
    from blockhook import wiring
    from blockhook.config import settings as read_settings

    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)  # accepted in local mode
        monkeypatch.setenv("BLOCKHOOK_MODE", "cloud")
        read_settings.cache_clear()
        wiring.delivery_service.cache_clear()  # built with the mode's URL policy
        try:
            answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
            body = answer.body
        finally:
            monkeypatch.setenv("BLOCKHOOK_MODE", "local")
            read_settings.cache_clear()
            wiring.delivery_service.cache_clear()
        assert receiver.requests == []
    assert answer.status == 200, answer.raw
    assert body["ok"] is False and body["status_code"] is None and "loopback" in body["error"]


# --- endpoint health ----------------------------------------------------------------------------------


def test_a_monitor_shows_its_endpoint_degraded_and_a_new_webhook_url_makes_it_healthy(api, service):
    from blockhook.store.endpoint_health import DEGRADED_AFTER_FAILURES

    monitor = api.create(webhook_url=UNUSED_URL)
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["health"] == {
        "status": "healthy", "consecutive_failures": 0, "failing_since": None, "last_failure": None,
        "next_probe_at": None,
    }
    for number in range(DEGRADED_AFTER_FAILURES):
        record(service, monitor, number=number)
    assert run_queue(service, api.queue_url) == ["failed"] * DEGRADED_AFTER_FAILURES  # no retries here
    health = api.call("GET", f"/v1/monitors/{monitor['id']}").body["health"]
    assert health["status"] == "degraded" and health["consecutive_failures"] == DEGRADED_AFTER_FAILURES
    assert health["last_failure"] and health["failing_since"] <= time.time()
    assert health["next_probe_at"] is not None
    listed = [item for item in api.call("GET", "/v1/monitors?limit=100").body["items"] if item["id"] == monitor["id"]]
    assert listed[0]["health"] == health

    with WebhookReceiver() as receiver:
        answer = api.call("PATCH", f"/v1/monitors/{monitor['id']}", {"webhook_url": receiver.url})
        changed = answer.body
    assert answer.status == 200, answer.raw
    assert changed["health"]["status"] == "healthy" and changed["health"]["consecutive_failures"] == 0


# --- secret rotation ----------------------------------------------------------------------------------


def test_rotation_answers_a_new_secret_and_keeps_the_old_one_signing_for_24_hours(api):
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)
        old_secret = monitor["secret"]
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/rotate-secret")
        rotated = answer.body
        assert answer.status == 200, answer.raw
        new_secret = rotated["secret"]
        assert new_secret.startswith("whsec_") and new_secret != old_secret
        assert set(rotated) == set(monitor) | {"previous_secret_expires_at"}
        fetched = api.call("GET", f"/v1/monitors/{monitor['id']}")
        assert fetched.body.pop("chains")[0]["chain_id"] == CHAIN_ID  # GET alone tells where deliveries stand
        shown = {name: value for name, value in rotated.items() if name not in ("secret", "previous_secret_expires_at")}
        assert fetched.body == shown
        everything = [
            fetched.raw,
            api.call("GET", "/v1/monitors").raw,
            api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries").raw,
        ]
        for answer in everything:
            assert old_secret not in answer and new_secret not in answer and "secret" not in answer

        # The test delivery carries both signatures now, current first.
        assert api.call("POST", f"/v1/monitors/{monitor['id']}/test").body["ok"] is True
        rotated_at = time.time()
        during = DeliveryService(
            DeliveryQueue(api.queue_url, client=boto3.client("sqs")),
            (),
            True,
            configured_secret_box(),
            clock=lambda: rotated_at + DAY - 120,
        )
        after = DeliveryService(
            DeliveryQueue(api.queue_url, client=boto3.client("sqs")),
            (),
            True,
            configured_secret_box(),
            clock=lambda: rotated_at + DAY + 120,
        )
        drain(api.queue_url)
        record(during, monitor)
        assert run_queue(during, api.queue_url) == ["delivered"]
        record(after, monitor)
        assert run_queue(after, api.queue_url) == ["delivered"]
        test_post, during_post, after_post = receiver.requests

    for request in (test_post, during_post):
        timestamp, entries = v1_entries(request)
        assert entries == [
            signing.sign(new_secret, timestamp, request.body),
            signing.sign(old_secret, timestamp, request.body),
        ]
        for secret in (new_secret, old_secret):
            assert signing.verify(
                request.header(signing.SIGNATURE_HEADER), request.body, secret, now=timestamp
            )
    timestamp, entries = v1_entries(after_post)
    assert entries == [signing.sign(new_secret, timestamp, after_post.body)]
    header = after_post.header(signing.SIGNATURE_HEADER)
    assert signing.verify(header, after_post.body, new_secret, now=timestamp)
    assert not signing.verify(header, after_post.body, old_secret, now=timestamp)

    # Standard Webhooks: the reference library verifies the post sent now with either secret, and
    # the posts of the day after carry exactly the signatures it makes at their time.
    for secret in (new_secret, old_secret):
        Webhook(secret).verify(test_post.body, standard_headers(test_post), json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.SECRET_PREFIX + "AAAA" * 8).verify(test_post.body, standard_headers(test_post))
    for request, holders in ((during_post, (new_secret, old_secret)), (after_post, (new_secret,))):
        sent = standard_headers(request)
        at = datetime.fromtimestamp(int(sent["webhook-timestamp"]), tz=UTC)
        assert sent["webhook-id"] == request.header(signing.DELIVERY_ID_HEADER)
        assert sent["webhook-signature"].split(" ") == [
            Webhook(secret).sign(sent["webhook-id"], at, request.body) for secret in holders
        ]


def standard_headers(request) -> dict[str, str]:
    return {name: request.header(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}


def test_a_second_rotation_drops_the_first_secret(api):
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)
        first = monitor["secret"]
        second = api.call("POST", f"/v1/monitors/{monitor['id']}/rotate-secret").body["secret"]
        third = api.call("POST", f"/v1/monitors/{monitor['id']}/rotate-secret").body["secret"]
        assert len({first, second, third}) == 3
        api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        (request,) = receiver.requests
    timestamp, entries = v1_entries(request)
    assert entries == [
        signing.sign(third, timestamp, request.body),
        signing.sign(second, timestamp, request.body),
    ]
    assert not signing.verify(request.header(signing.SIGNATURE_HEADER), request.body, first, now=timestamp)


def raw_items(table: str) -> str:
    """Every item of a table as DynamoDB holds it, as one text."""
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return json.dumps([item for page in pages for item in page["Items"]])


def test_secrets_are_stored_sealed_and_the_clear_ones_are_nowhere_in_the_tables(api):
    from blockhook.store.idempotency import table_name as idempotency_table
    from blockhook.store.models import MonitorModel

    request, key = monitor_body(name="sealed", chain_ids=[CHAIN_ID]), uuid.uuid4().hex
    answers = [api.post_monitor(request, idempotency_key=key) for _ in range(2)]
    assert [answer.status for answer in answers] == [201, 201]
    created, repeated = (answer.body for answer in answers)
    assert repeated == created  # the saved answer, its secret opened again
    monitor_id = created["id"]
    rotated = api.call("POST", f"/v1/monitors/{monitor_id}/rotate-secret").body

    stored = MonitorModel.get(tenant_of_local_key(KEY_A), monitor_id)
    assert stored.sealed_secret.startswith("kms1:") and stored.sealed_previous_secret.startswith("kms1:")
    tables = raw_items(MonitorModel.Meta.table_name) + raw_items(idempotency_table())
    assert monitor_id in tables  # the scan did read the monitor and its saved answer
    for secret in (created["secret"], rotated["secret"]):
        assert secret.startswith("whsec_") and secret not in tables
        assert secret[len("whsec_"):] not in tables


def test_a_sealed_secret_opens_only_for_its_own_monitor(api):
    from blockhook.store.models import MonitorModel
    from blockhook.store.secret_box import KmsSecretBox, SecretBoxError

    first, second = api.create(), api.create()
    stored = MonitorModel.get(tenant_of_local_key(KEY_A), first["id"])
    fresh_box = KmsSecretBox(configured_secret_box().key_id)  # nothing remembered: KMS decides
    assert fresh_box.open(stored.sealed_secret, first["id"]) == first["secret"]
    with pytest.raises(SecretBoxError, match="cannot open"):
        fresh_box.open(stored.sealed_secret, second["id"])


def test_a_key_service_that_refuses_answers_503_and_creates_nothing(api, monkeypatch):
    from blockhook.config import settings as read_settings
    from blockhook.store.secret_box import configured_secret_box as box_of_process

    # A key that is not there (deleted, or the wrong ARN configured): KMS refuses to encrypt.
    missing_key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000"
    key = "delivery-routes-key-kms"
    monkeypatch.setenv("BLOCKHOOK_API_KEYS", key)
    monkeypatch.setenv("BLOCKHOOK_SECRETS_KEY_ID", missing_key)
    read_settings.cache_clear()
    box_of_process.cache_clear()
    try:
        # Not api.call: it takes any 5xx for a failure of the test.
        headers = {"content-type": "application/json", "x-api-key": key}
        body = json.dumps(monitor_body(name="no key", chain_ids=[CHAIN_ID])).encode()
        answer = api.function.invoke(api_event("POST", "/v1/monitors", headers, body))
        listed = api.function.invoke(api_event("GET", "/v1/monitors", {"x-api-key": key}))
    finally:
        monkeypatch.undo()
        read_settings.cache_clear()
        box_of_process.cache_clear()
    assert answer["statusCode"] == 503, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] == "unavailable"
    assert answer["multiValueHeaders"]["Retry-After"] == ["1"]
    assert json.loads(listed["body"])["items"] == []


def test_the_openapi_document_describes_the_delivery_routes(api):
    answer = api.call("GET", "/v1/openapi.json")
    document = answer.body
    assert answer.status == 200, answer.raw
    paths = document["paths"]
    assert set(paths["/v1/monitors/{monitor_id}/deliveries"]) == {"get"}
    assert "202" in paths["/v1/monitors/{monitor_id}/deliveries/{delivery_id}/replay"]["post"]["responses"]
    assert "200" in paths["/v1/monitors/{monitor_id}/test"]["post"]["responses"]
    rotate = paths["/v1/monitors/{monitor_id}/rotate-secret"]["post"]["responses"]["200"]
    assert rotate["content"]["application/json"]["schema"]["$ref"].endswith("/MonitorWithRotatedSecret")
    parameters = {item["name"] for item in paths["/v1/monitors/{monitor_id}/deliveries"]["get"]["parameters"]}
    assert parameters == {"monitor_id", "status", "limit", "cursor"}
    schemas = document["components"]["schemas"]
    assert set(schemas["DeliveryOut"]["properties"]) == ITEM_FIELDS
