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
from collections.abc import Iterator

import boto3
import pytest

from blockhook.delivery import signing
from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import MatchService
from blockhook.store.blobs import configured_blobs
from blockhook.store.chain_state import load_checkpoint, save_checkpoint
from blockhook.store.deliveries import MAX_KEPT_ATTEMPTS, get_delivery, record_attempt
from blockhook.store.models import DeliveryModel
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import BackfillTarget, ReconcileTarget, encode_revert
from tests.integration.test_delivery_service import drain, run_queue
from tests.support.api import Answer, Api, assert_error, clear_api_caches, local_api
from tests.support.builders import Block, new_address, new_hash
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


@pytest.fixture(scope="module")
def api(moto_endpoint) -> Iterator[Api]:
    queue_url = boto3.client("sqs").create_queue(QueueName="detail-" + uuid.uuid4().hex[:8])["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(
            patch,
            [KEY_A, KEY_B],
            CHAINS,
            {"name": "delivery detail", "chain_ids": [CHAIN_ID], "kinds": ["transaction", "log"], "confirmations": 0},
            BLOCKHOOK_DELIVERY_QUEUE_URL=queue_url,
            BLOCKHOOK_RATE_LIMIT="100000",  # these tests are not about throttling
            BLOCKHOOK_RATE_BURST="100000",
        )
    clear_api_caches()


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


def delivery_detail(api: Api, monitor_id: str, delivery_id: str) -> Answer:
    """GET of one delivery: the fields of its item in the log, and its body, headers and attempts."""
    answer = api.delivery(monitor_id, delivery_id)
    assert set(answer.body) == DETAIL_FIELDS, answer.raw
    return answer


# --- the body as sent, the headers, every attempt ---------------------------------------------------------


def test_the_detail_answers_the_bytes_the_webhook_got_the_headers_sent_and_each_attempt(api, deliveries, matcher):
    watched = new_address()
    # A label beyond ASCII: the body is compared byte for byte, escapes included.
    with WebhookReceiver(status(500, "down for maintenance"), status(200, "thanks, got it")) as receiver:
        monitor = api.create(webhook_url=receiver.url, addresses=[{"address": watched, "label": "Kundin Müller ✓"}])
        matcher.process(block_with(70_000 + secrets.randbelow(1000), watched).encode())
        assert run_queue(deliveries, api.queue_url) == ["retrying", "delivered"]
        failed, delivered = receiver.verify_all(monitor["secret"])

    (listed,) = api.deliveries(monitor["id"])
    assert set(listed) == LIST_FIELDS  # the log stays light: no body, headers or attempts
    answer = delivery_detail(api, monitor["id"], listed["id"])
    detail = answer.body
    assert detail.items() >= listed.items()
    assert detail["origin"] == "live" and detail["status"] == "delivered" and detail["attempts"] == 2
    assert detail["body"].encode() == delivered.body == failed.body
    assert json.loads(detail["body"])["events"][0]["labels"] == {watched: "Kundin Müller ✓"}
    assert {name: delivered.header(name) for name in SENT_HEADERS} == {
        name: detail["headers"][name] for name in SENT_HEADERS
    }
    assert set(detail["headers"]) == set(SENT_HEADERS)
    assert monitor["secret"] not in answer.raw
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
        monitor = api.create(webhook_url=receiver.url, addresses=[emitter])
        # As ingest publishes it: the event itself is too large for Kafka, and crosses it as a claim check.
        matcher.process(block.encode(claims=lambda data: configured_blobs().put("events", data)))
        (listed,) = api.deliveries(monitor["id"])
        assert get_delivery(listed["id"]).payload_ref  # kept in S3
        assert run_queue(deliveries, api.queue_url) == ["delivered"]
        (request,) = receiver.requests

    detail = delivery_detail(api, monitor["id"], listed["id"]).body
    assert detail["body"].encode() == request.body
    assert json.loads(detail["body"])["events"][0]["data"] == event["data"]


def test_the_latest_attempts_are_kept_up_to_the_bound_and_all_are_counted(api, deliveries, matcher):
    watched = new_address()
    monitor = api.create(addresses=[watched])
    matcher.process(block_with(72_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.deliveries(monitor["id"])
    made = MAX_KEPT_ATTEMPTS + 3
    for number in range(made):
        record_attempt(
            get_delivery(listed["id"]), status="retrying", status_code=500 + number % 4, error=f"attempt {number}",
            latency_ms=number, next_attempt_at=None, response_excerpt=f"answer {number}",
        )  # fmt: skip

    detail = delivery_detail(api, monitor["id"], listed["id"]).body
    assert detail["attempts"] == made
    kept = detail["attempt_log"]
    assert [a["error"] for a in kept] == [f"attempt {n}" for n in range(3, made)]  # the latest, oldest first
    assert [(a["status_code"], a["duration_ms"], a["response"]) for a in kept[-2:]] == [
        (500 + (made - 2) % 4, made - 2, f"answer {made - 2}"),
        (500 + (made - 1) % 4, made - 1, f"answer {made - 1}"),
    ]


def test_a_delivery_never_attempted_or_recorded_without_an_origin(api, matcher):
    watched = new_address()
    monitor = api.create(addresses=[watched])
    matcher.process(block_with(73_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.deliveries(monitor["id"])

    detail = delivery_detail(api, monitor["id"], listed["id"]).body
    assert (detail["attempts"], detail["attempt_log"], detail["headers"]) == (0, [], None)
    assert json.loads(detail["body"])["sequence"] == detail["sequence"] == 1

    # A record stored without an origin (or its attempt log) is answered with null (and no attempts).
    get_delivery(listed["id"]).update(actions=[DeliveryModel.origin.remove(), DeliveryModel.attempt_log.remove()])
    assert [item["origin"] for item in api.deliveries(monitor["id"])] == [None]
    detail = delivery_detail(api, monitor["id"], listed["id"]).body
    assert (detail["origin"], detail["attempt_log"]) == (None, [])


def test_a_delivery_of_another_monitor_or_tenant_or_none_at_all_answers_404(api, matcher):
    watched = new_address()
    monitor = api.create(addresses=[watched])
    sibling = api.create(addresses=[new_address()])
    stranger = api.create(key=KEY_B, addresses=[new_address()])
    matcher.process(block_with(74_000 + secrets.randbelow(1000), watched).encode())
    (listed,) = api.deliveries(monitor["id"])
    delivery_detail(api, monitor["id"], listed["id"])

    assert_error(api.call("GET", f"/v1/monitors/{sibling['id']}/deliveries/{listed['id']}"), 404, "not_found")
    assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{listed['id']}", key=KEY_B), 404, "not_found")
    assert_error(api.call("GET", f"/v1/monitors/{stranger['id']}/deliveries/{listed['id']}", key=KEY_B), 404, "not_found")
    for unknown in ("dlv_" + "0" * 32, "dlv_test_" + "0" * 24, "dlv_nope", "x" * 2000):
        assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{unknown}"), 404, "not_found")
    assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/deliveries/{listed['id']}", key=None), 401, "unauthorized")


# --- origins ------------------------------------------------------------------------------------------------


def test_each_delivery_says_what_made_it(api, deliveries, matcher):
    watched, late = new_address(), new_address()
    base = 80_000 + 100 * secrets.randbelow(1000)
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url, addresses=[watched])
        made: dict[str, str] = {}

        def newest(origin: str) -> None:
            ids = {item["id"] for item in api.deliveries(monitor["id"])} - set(made.values())
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
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", {"add": [late]})
        assert answer.status == 200, answer.raw
        matcher.process([])  # the next batch catches up the blocks it passed
        newest("catch_up")

        # removed: a reorg replaces the live block.
        matcher.process([encode_revert(CHAIN_ID, base, live.header.hash)])
        newest("removed")

        # backfill: the block now at that height, replayed for this monitor by a backfill job.
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/backfill", {"from_block": base, "to_block": base})
        assert answer.status == 202, answer.raw
        job = answer.body
        replacement = block_with(base, watched)
        matcher.process(replacement.encode(backfill=BackfillTarget(monitor["id"], job["id"])))
        newest("backfill")

        # reconcile: a block whose delivery was never made, healed.
        unsent = block_with(base + 2, watched)
        ingested(base + 2)
        body = {"from_block": base + 2, "to_block": base + 2, "heal": True}
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/reconcile", body)
        assert answer.status == 202, answer.raw
        job = answer.body
        matcher.process(unsent.encode(backfill=ReconcileTarget(monitor["id"], job["id"])))
        newest("reconcile")

        # test: the send-test call.
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        sent = answer.body
        assert answer.status == 200 and sent["ok"], answer.raw
        newest("test")
        assert made["test"] == sent["delivery_id"]

        assert len(run_queue(deliveries, api.queue_url)) == 5  # the five of the chain
        received = {request.header(signing.DELIVERY_ID_HEADER): request.body for request in receiver.requests}

    by_id = {item["id"]: item for item in api.deliveries(monitor["id"])}
    assert {origin: by_id[delivery_id]["origin"] for origin, delivery_id in made.items()} == {
        origin: origin for origin in made
    }
    for origin, delivery_id in made.items():
        detail = delivery_detail(api, monitor["id"], delivery_id).body
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
        monitor = api.create(webhook_url=receiver.url, addresses=[new_address()])
        answer = api.call("POST", f"/v1/monitors/{monitor['id']}/test")
        sent = answer.body
        assert answer.status == 200 and sent["status_code"] == 503, answer.raw
        (request,) = receiver.requests

    detail = delivery_detail(api, monitor["id"], sent["delivery_id"]).body
    assert (detail["origin"], detail["status"], detail["attempts"], detail["sequence"]) == ("test", "failed", 1, None)
    assert detail["body"].encode() == request.body
    assert detail["headers"][signing.SIGNATURE_HEADER] == request.header(signing.SIGNATURE_HEADER)
    assert [(a["status_code"], a["error"], a["response"]) for a in detail["attempt_log"]] == [
        (503, "HTTP 503", "maintenance")
    ]
    assert run_queue(deliveries, api.queue_url) == []  # settled by its one attempt: nothing queued
