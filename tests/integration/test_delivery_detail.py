"""GET /v1/monitors/{id}/deliveries/{delivery_id} and each delivery's `origin`, through the deployed API
handler against a moto server, with deliveries made by the matcher (MatchService fed the block and
revert messages ingest publishes), posted by DeliveryService to real webhook receivers on 127.0.0.1,
as the deliver function does.

Checked: the detail's body is the very bytes the receiver got (inline and kept in S3), its headers
are those sent and hold no secret, every attempt is kept (up to the bound), 404 for a delivery of
another monitor or tenant, and each origin comes from the path that makes it."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import boto3
import pytest

from blockhook.delivery import signing
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.local.api_gateway import proxy_event
from blockhook.local.lambdas import LocalFunction
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import MatchService
from blockhook.store.blobs import configured_blobs
from blockhook.store.chain_state import load_checkpoint, save_checkpoint
from blockhook.store.deliveries import MAX_KEPT_ATTEMPTS, get_delivery, record_attempt
from blockhook.store.models import DeliveryModel
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import BackfillTarget, ReconcileTarget, encode_revert
from tests.integration.test_delivery_service import drain, run_queue
from tests.integration.test_matching_service import Block, new_address, new_hash
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.integration

KEY_A, KEY_B = "delivery-detail-key-a", "delivery-detail-key-b"
# A chain of this module alone: no other test's monitor of every party sees its blocks.
CHAIN_ID = 2_000_000 + secrets.randbelow(10**9)
CHAINS = {"chains": [{"chain_id": CHAIN_ID, "rpc_urls": ["http://127.0.0.1:9"], "confirmations": 0}]}
LIST_FIELDS = {
    "id", "status", "retrying", "chain_id", "sequence", "block_number", "block_hash", "removed", "event_count",
    "attempts", "last_status_code", "last_error", "last_latency_ms", "next_attempt_at", "created_at",
    "last_attempt_at", "origin",
}  # fmt: skip
DETAIL_FIELDS = LIST_FIELDS | {"body", "headers", "attempt_log"}
SENT_HEADERS = (
    "Content-Type", signing.DELIVERY_ID_HEADER, signing.SIGNATURE_HEADER, "webhook-id", "webhook-timestamp",
    "webhook-signature", "User-Agent",
)  # fmt: skip


class Api:
    def __init__(self, function: LocalFunction, queue_url: str) -> None:
        self.function = function
        self.queue_url = queue_url

    def call(self, method: str, path: str, body: Any = None, key: str | None = KEY_A) -> tuple[int, Any, str]:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data else {}
        if key is not None:
            headers["x-api-key"] = key
        answer = self.function.invoke(proxy_event(method, path, headers, data, "127.0.0.1"))
        text = answer.get("body") or ""
        code = int(answer["statusCode"])
        assert code < 500, f"{method} {path} answered {code}: {text[:500]}"
        return code, json.loads(text) if text else None, text

    def create(self, webhook_url: str, addresses: list[Any], key: str = KEY_A) -> dict[str, Any]:
        code, body, raw = self.call(
            "POST",
            "/v1/monitors",
            {
                "name": "delivery detail",
                "chain_ids": [CHAIN_ID],
                "webhook_url": webhook_url,
                "filters": {"kinds": ["transaction", "log"], "addresses": addresses},
                "confirmations": 0,
            },
            key,
        )
        assert code == 201, raw
        return body

    def log(self, monitor_id: str) -> list[dict[str, Any]]:
        code, body, raw = self.call("GET", f"/v1/monitors/{monitor_id}/deliveries?limit=100")
        assert code == 200 and body["next_cursor"] is None, raw
        return body["items"]

    def detail(self, monitor_id: str, delivery_id: str, key: str = KEY_A) -> tuple[dict[str, Any], str]:
        code, body, raw = self.call("GET", f"/v1/monitors/{monitor_id}/deliveries/{delivery_id}", key=key)
        assert code == 200, raw
        assert set(body) == DETAIL_FIELDS, raw
        return body, raw


@pytest.fixture(scope="module")
def api(moto_endpoint):
    from blockhook import wiring
    from blockhook.api import routes
    from blockhook.config import settings as read_settings

    queue_url = boto3.client("sqs").create_queue(QueueName="detail-" + uuid.uuid4().hex[:8])["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BLOCKHOOK_MODE", "local")
        patch.setenv("BLOCKHOOK_API_KEYS", f"{KEY_A},{KEY_B}")
        patch.setenv("BLOCKHOOK_CHAINS", json.dumps(CHAINS))
        patch.setenv("BLOCKHOOK_DELIVERY_QUEUE_URL", queue_url)
        patch.setenv("BLOCKHOOK_RATE_LIMIT", "100000")  # these tests are not about throttling
        patch.setenv("BLOCKHOOK_RATE_BURST", "100000")
        for variable in ("BLOCKHOOK_API_KEY", "BLOCKHOOK_AUTH_MODE", "BLOCKHOOK_MAX_MONITORS_PER_TENANT"):
            patch.delenv(variable, raising=False)
        read_settings.cache_clear()
        routes.known_chains.cache_clear()
        wiring.delivery_service.cache_clear()
        yield Api(LocalFunction("api", timeout_seconds=30), queue_url)
    read_settings.cache_clear()
    routes.known_chains.cache_clear()
    wiring.delivery_service.cache_clear()


@pytest.fixture
def deliveries(api) -> DeliveryService:
    """The deliver side (no wait between attempts), on the queue the API and the matcher send to."""
    drain(api.queue_url)
    return DeliveryService(
        DeliveryQueue(api.queue_url, client=boto3.client("sqs")), (0, 0, 0), allow_private_webhooks=True,
        box=configured_secret_box(),
    )  # fmt: skip


@pytest.fixture
def matcher(deliveries) -> MatchService:
    return MatchService(WatchIndex(), deliveries)


def ingested(number: int) -> None:
    """Ingest has published block `number` and seen it as the head: what backfill and reconcile need."""
    save_checkpoint(load_checkpoint(CHAIN_ID), [(number, new_hash())], number)


def block_with(number: int, *senders: str) -> Block:
    block = Block(CHAIN_ID, number)
    for index, sender in enumerate(senders):
        block.transaction(index, sender, new_address())
    return block


def assert_not_found(answer: tuple[int, Any, str]) -> None:
    code, body, raw = answer
    assert code == 404, raw
    assert body["error"]["code"] == "not_found" and set(body["error"]) == {"code", "message", "details"}, raw


# --- the body as sent, the headers, every attempt ---------------------------------------------------------


def test_the_detail_answers_the_bytes_the_webhook_got_the_headers_sent_and_each_attempt(api, deliveries, matcher):
    watched = new_address()
    # A label beyond ASCII: the body is compared byte for byte, escapes included.
    with WebhookReceiver(status(500, "down for maintenance"), status(200, "thanks, got it")) as receiver:
        monitor = api.create(receiver.url, [{"address": watched, "label": "Kundin Müller ✓"}])
        matcher.process(block_with(70_000 + secrets.randbelow(1000), watched).encode())
        assert run_queue(deliveries, api.queue_url) == ["retrying", "delivered"]
        failed, delivered = receiver.verify_all(monitor["secret"])

    (listed,) = api.log(monitor["id"])
    assert set(listed) == LIST_FIELDS  # the log stays light: no body, headers or attempts
    detail, raw = api.detail(monitor["id"], listed["id"])
    assert detail.items() >= listed.items()
    assert detail["origin"] == "live" and detail["status"] == "delivered" and detail["attempts"] == 2
    assert detail["body"].encode() == delivered.body == failed.body
    assert json.loads(detail["body"])["events"][0]["labels"] == {watched: "Kundin Müller ✓"}
    assert {name: delivered.header(name) for name in SENT_HEADERS} == {
        name: detail["headers"][name] for name in SENT_HEADERS
    }
    assert set(detail["headers"]) == set(SENT_HEADERS)
    assert monitor["secret"] not in raw
    assert [(a["status_code"], a["error"], a["response"]) for a in detail["attempt_log"]] == [
        (500, "HTTP 500", "down for maintenance"),
        (200, None, "thanks, got it"),
    ]
    first, second = detail["attempt_log"]
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in detail["attempt_log"])
    assert first["at"] <= second["at"] == detail["last_attempt_at"]


def test_a_body_kept_in_s3_is_answered_as_sent(api, deliveries, matcher):
    emitter = new_address()
    block = Block(CHAIN_ID, 71_000 + secrets.randbelow(1000))
    event = block.log(0, 0, emitter, ["0x" + "ab" * 32])
    event["data"] = "0x" + secrets.token_hex(200_000)  # 400 KB: past what a DynamoDB item holds inline
    with WebhookReceiver() as receiver:
        monitor = api.create(receiver.url, [emitter])
        # As ingest publishes it: the event itself is too large for Kafka, and crosses it as a claim check.
        matcher.process(block.encode(claims=lambda data: configured_blobs().put("events", data)))
        (listed,) = api.log(monitor["id"])
        assert get_delivery(listed["id"]).payload_ref  # kept in S3
        assert run_queue(deliveries, api.queue_url) == ["delivered"]
        (request,) = receiver.requests

    detail, _ = api.detail(monitor["id"], listed["id"])
    assert detail["body"].encode() == request.body
    assert json.loads(detail["body"])["events"][0]["data"] == event["data"]


def test_the_latest_attempts_are_kept_up_to_the_bound_and_all_are_counted(api, deliveries, matcher):
    watched = new_address()
    monitor = api.create("http://127.0.0.1:9/hook", [watched])
    matcher.process(block_with(72_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.log(monitor["id"])
    made = MAX_KEPT_ATTEMPTS + 3
    for number in range(made):
        record_attempt(
            get_delivery(listed["id"]), status="retrying", status_code=500 + number % 4, error=f"attempt {number}",
            latency_ms=number, next_attempt_at=None, response_excerpt=f"answer {number}",
        )  # fmt: skip

    detail, _ = api.detail(monitor["id"], listed["id"])
    assert detail["attempts"] == made
    kept = detail["attempt_log"]
    assert [a["error"] for a in kept] == [f"attempt {n}" for n in range(3, made)]  # the latest, oldest first
    assert [(a["status_code"], a["duration_ms"], a["response"]) for a in kept[-2:]] == [
        (500 + (made - 2) % 4, made - 2, f"answer {made - 2}"),
        (500 + (made - 1) % 4, made - 1, f"answer {made - 1}"),
    ]


def test_a_delivery_never_attempted_or_recorded_without_an_origin(api, matcher):
    watched = new_address()
    monitor = api.create("http://127.0.0.1:9/hook", [watched])
    matcher.process(block_with(73_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.log(monitor["id"])

    detail, _ = api.detail(monitor["id"], listed["id"])
    assert (detail["attempts"], detail["attempt_log"], detail["headers"]) == (0, [], None)
    assert json.loads(detail["body"])["sequence"] == detail["sequence"] == 1

    # A record stored without an origin (or its attempt log) is answered with null (and no attempts).
    get_delivery(listed["id"]).update(actions=[DeliveryModel.origin.remove(), DeliveryModel.attempt_log.remove()])
    assert [item["origin"] for item in api.log(monitor["id"])] == [None]
    detail, _ = api.detail(monitor["id"], listed["id"])
    assert (detail["origin"], detail["attempt_log"]) == (None, [])


def test_a_delivery_of_another_monitor_or_tenant_or_none_at_all_answers_404(api, matcher):
    watched = new_address()
    monitor = api.create("http://127.0.0.1:9/hook", [watched])
    sibling = api.create("http://127.0.0.1:9/hook", [new_address()])
    stranger = api.create("http://127.0.0.1:9/hook", [new_address()], key=KEY_B)
    matcher.process(block_with(74_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.log(monitor["id"])
    api.detail(monitor["id"], listed["id"])

    assert_not_found(api.call("GET", f"/v1/monitors/{sibling['id']}/deliveries/{listed['id']}"))
    assert_not_found(api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{listed['id']}", key=KEY_B))
    assert_not_found(api.call("GET", f"/v1/monitors/{stranger['id']}/deliveries/{listed['id']}", key=KEY_B))
    for unknown in ("dlv_" + "0" * 32, "dlv_test_" + "0" * 24, "dlv_nope", "x" * 2000):
        assert_not_found(api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{unknown}"))
    code, _, raw = api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{listed['id']}", key=None)
    assert code == 401, raw


# --- origins ------------------------------------------------------------------------------------------------


def test_each_delivery_says_what_made_it(api, deliveries, matcher):
    watched, late = new_address(), new_address()
    base = 80_000 + 100 * secrets.randbelow(1000)
    with WebhookReceiver() as receiver:
        monitor = api.create(receiver.url, [watched])
        made: dict[str, str] = {}

        def newest(origin: str) -> None:
            ids = {item["id"] for item in api.log(monitor["id"])} - set(made.values())
            (made[origin],) = ids

        # live: a block from the chain.
        live = block_with(base, watched)
        matcher.process(live.encode())
        ingested(base)
        newest("live")

        # catch_up: an address added while the head is a block the matcher has passed.
        passed = block_with(base + 1, late)
        matcher.process(passed.encode())
        ingested(base + 1)
        code, _, raw = api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", {"add": [late]})
        assert code == 200, raw
        matcher.process([])  # the next batch catches up the blocks it passed
        newest("catch_up")

        # removed: a reorg replaces the live block.
        matcher.process([encode_revert(CHAIN_ID, base, live.header.hash)])
        newest("removed")

        # backfill: the block now at that height, replayed for this monitor by a backfill job.
        code, job, raw = api.call("POST", f"/v1/monitors/{monitor['id']}/backfill", {"from_block": base, "to_block": base})
        assert code == 202, raw
        replacement = block_with(base, watched)
        matcher.process(replacement.encode(backfill=BackfillTarget(monitor["id"], job["id"])))
        newest("backfill")

        # reconcile: a block whose delivery was never made, healed.
        unsent = block_with(base + 2, watched)
        ingested(base + 2)
        body = {"from_block": base + 2, "to_block": base + 2, "heal": True}
        code, job, raw = api.call("POST", f"/v1/monitors/{monitor['id']}/reconcile", body)
        assert code == 202, raw
        matcher.process(unsent.encode(backfill=ReconcileTarget(monitor["id"], job["id"])))
        newest("reconcile")

        # test: the send-test call.
        code, sent, raw = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        assert code == 200 and sent["ok"], raw
        newest("test")
        assert made["test"] == sent["delivery_id"]

        assert len(run_queue(deliveries, api.queue_url)) == 5  # the five of the chain
        received = {request.header(signing.DELIVERY_ID_HEADER): request.body for request in receiver.requests}

    by_id = {item["id"]: item for item in api.log(monitor["id"])}
    assert {origin: by_id[delivery_id]["origin"] for origin, delivery_id in made.items()} == {
        origin: origin for origin in made
    }
    for origin, delivery_id in made.items():
        detail, _ = api.detail(monitor["id"], delivery_id)
        assert detail["origin"] == origin and detail["status"] == "delivered"
        assert detail["body"].encode() == received[delivery_id]
        assert "origin" not in json.loads(detail["body"])  # the webhook body's fields are fixed
    bodies = {origin: json.loads(received[made[origin]]) for origin in made}
    assert [e["id"] for e in bodies["removed"]["events"]] == [e["id"] for e in bodies["live"]["events"]]
    assert bodies["removed"]["removed"] is True and by_id[made["removed"]]["removed"] is True
    assert [e["id"] for e in bodies["catch_up"]["events"]] == [passed.events[0]["id"]]
    assert [e["id"] for e in bodies["backfill"]["events"]] == [replacement.events[0]["id"]]
    assert [e["id"] for e in bodies["reconcile"]["events"]] == [unsent.events[0]["id"]]
    assert bodies["test"]["test"] is True
    # The test delivery is no delivery of the chain: the others are numbered 1..5, it has no number.
    assert sorted(by_id[made[o]]["sequence"] for o in made if o != "test") == [1, 2, 3, 4, 5]
    assert by_id[made["test"]]["sequence"] is None and "sequence" not in bodies["test"]


def test_a_failed_test_delivery_is_recorded_failed_with_its_attempt(api, deliveries):
    with WebhookReceiver(status(503, "maintenance")) as receiver:
        monitor = api.create(receiver.url, [new_address()])
        code, sent, raw = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        assert code == 200 and sent["status_code"] == 503, raw
        (request,) = receiver.requests

    detail, _ = api.detail(monitor["id"], sent["delivery_id"])
    assert (detail["origin"], detail["status"], detail["attempts"], detail["sequence"]) == ("test", "failed", 1, None)
    assert detail["body"].encode() == request.body
    assert detail["headers"][signing.SIGNATURE_HEADER] == request.header(signing.SIGNATURE_HEADER)
    assert [(a["status_code"], a["error"], a["response"]) for a in detail["attempt_log"]] == [
        (503, "HTTP 503", "maintenance")
    ]
    assert run_queue(deliveries, api.queue_url) == []  # settled by its one attempt: nothing queued
