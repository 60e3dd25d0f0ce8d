"""The API's rate limit (429 with Retry-After, local mode) and the Idempotency-Key of POST /v1/monitors,
through the deployed Lambda handler against a moto server, as API Gateway would call it."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from blockhook.api.auth import tenant_of_local_key
from blockhook.store import idempotency
from tests.support.api import Answer, Api, clear_api_caches, local_api
from tests.support.builders import monitor_body

CHAINS = {"chains": [{"chain_id": 31337, "rpc_urls": ["http://127.0.0.1:9"]}]}
WEBHOOK = "http://127.0.0.1:8000/hooks/blockhook"
# Slow enough that no token comes back while a test runs: each tenant has exactly its burst.
CRAWL = "0.001"


@pytest.fixture
def make_api(moto_endpoint) -> Iterator[Callable[..., Api]]:
    """An API whose environment is `env` on top of local mode with two fresh tenants (keys of their own),
    and fresh rate-limit buckets."""
    with pytest.MonkeyPatch.context() as patch:

        def make(**env: str) -> Api:
            keys = [f"limits-{uuid.uuid4().hex[:12]}" for _ in range(2)]
            return local_api(patch, keys, CHAINS, **env)

        yield make
    clear_api_caches()


def new_monitor(**fields: Any) -> dict[str, Any]:
    return monitor_body(WEBHOOK, name=f"m-{uuid.uuid4().hex[:8]}", **fields)


def assert_rate_limited(answer: Answer, slowest_refill_seconds: float) -> int:
    assert answer.status == 429, answer.body
    assert answer.error_code() == "rate_limited"
    retry_after = answer.headers["retry-after"]
    assert retry_after.isdigit(), retry_after  # whole seconds
    assert 1 <= int(retry_after) <= slowest_refill_seconds
    return int(retry_after)


# --- rate limit --------------------------------------------------------------------------------


def test_a_tenant_over_its_burst_is_answered_429_with_retry_after(make_api):
    api = make_api(BLOCKHOOK_RATE_LIMIT=CRAWL, BLOCKHOOK_RATE_BURST="3")
    for _ in range(3):
        assert api.call("GET", "/v1/monitors").status == 200
    first = assert_rate_limited(api.call("GET", "/v1/monitors"), 1000)
    # Still refused: a refusal does not reset the wait, nor does another route escape it.
    assert_rate_limited(api.call("POST", "/v1/monitors", new_monitor()), first)


def test_each_tenant_has_its_own_bucket(make_api):
    api = make_api(BLOCKHOOK_RATE_LIMIT=CRAWL, BLOCKHOOK_RATE_BURST="2")
    first, second = api.keys
    for _ in range(2):
        assert api.call("GET", "/v1/monitors", key=first).status == 200
    assert_rate_limited(api.call("GET", "/v1/monitors", key=first), 1000)
    for _ in range(2):
        assert api.call("GET", "/v1/monitors", key=second).status == 200
    assert_rate_limited(api.call("GET", "/v1/monitors", key=second), 1000)


def test_health_and_refused_keys_take_nothing_from_a_bucket(make_api):
    api = make_api(BLOCKHOOK_RATE_LIMIT=CRAWL, BLOCKHOOK_RATE_BURST="2")
    for _ in range(5):
        assert api.call("GET", "/v1/health", key=None).status == 200
        assert api.call("GET", "/v1/monitors", key="not-a-key").status == 401
        assert api.call("GET", "/v1/monitors", key=None).status == 401
    for _ in range(2):
        assert api.call("GET", "/v1/monitors").status == 200
    assert_rate_limited(api.call("GET", "/v1/monitors"), 1000)


def test_invalid_requests_count_and_are_refused_429_once_over(make_api):
    api = make_api(BLOCKHOOK_RATE_LIMIT=CRAWL, BLOCKHOOK_RATE_BURST="2")
    assert api.call("POST", "/v1/monitors", {"bogus": True}).status == 422
    assert api.call("POST", "/v1/monitors", raw=b"{not json").status == 400
    # Over the limit, a caller learns that before anything about its request.
    assert_rate_limited(api.call("POST", "/v1/monitors", {"bogus": True}), 1000)
    assert_rate_limited(api.call("GET", "/v1/monitors?limit=zero"), 1000)
    assert_rate_limited(api.call("GET", "/v1/monitors"), 1000)


def test_the_bucket_refills_at_the_rate(make_api):
    # 1000 requests a second: a bucket of one is full again a millisecond after it was emptied.
    api = make_api(BLOCKHOOK_RATE_LIMIT="1000", BLOCKHOOK_RATE_BURST="1")
    for _ in range(3):
        time.sleep(0.01)
        assert api.call("GET", "/v1/monitors").status == 200


def test_in_the_cloud_api_gateway_throttles_not_the_function(make_api):
    api = make_api(BLOCKHOOK_AUTH_MODE="apigateway", BLOCKHOOK_RATE_LIMIT=CRAWL, BLOCKHOOK_RATE_BURST="1")
    for _ in range(5):
        answer = api.call("GET", "/v1/monitors", key=None, api_key_id="abc123")
        assert answer.status == 200, answer.body


def test_429_is_documented_with_retry_after_on_every_keyed_operation(make_api):
    from blockhook.api.routes import openapi_dict

    document = openapi_dict()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/v1/health":
                continue
            response = operation["responses"].get("429")
            assert response is not None, f"{method} {path}"
            assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
            assert response["headers"]["Retry-After"]["schema"]["type"] == "integer"


# --- Idempotency-Key ---------------------------------------------------------------------------


@pytest.fixture
def api(make_api) -> Api:
    return make_api()


def test_a_retried_create_makes_one_monitor_and_answers_the_same(api):
    body = new_monitor()
    first = api.post_monitor(body, idempotency_key="create-1")
    again = api.post_monitor(body, idempotency_key="create-1")
    assert first.status == again.status == 201, (first.body, again.body)
    assert again.body == first.body
    assert first.body["secret"]  # the same caller: the answer keeps its secret
    assert api.monitor_names().count(body["name"]) == 1
    got = api.call("GET", f"/v1/monitors/{first.body['id']}")
    assert got.status == 200 and got.body["name"] == body["name"]


def test_the_same_json_sent_differently_is_the_same_request(api):
    body = new_monitor(filters={"kinds": ["erc20_transfer"]}, confirmations=2)
    first = api.post_monitor(body, idempotency_key="spacing")
    respelled = json.dumps(dict(reversed(list(body.items()))), indent=3).encode()
    again = api.call("POST", "/v1/monitors", raw=respelled, headers={"Idempotency-Key": "spacing"})
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body


def test_the_same_key_with_another_body_is_a_409_conflict(api):
    body = new_monitor()
    assert api.post_monitor(body, idempotency_key="reused").status == 201
    changed = api.post_monitor({**body, "name": body["name"] + "-other"}, idempotency_key="reused")
    assert changed.status == 409
    assert changed.error_code() == "idempotency_conflict"
    names = api.monitor_names()
    assert names.count(body["name"]) == 1 and body["name"] + "-other" not in names


def test_keys_belong_to_their_tenant(api):
    first, second = api.keys
    body = new_monitor()
    mine = api.post_monitor(body, key=first, idempotency_key="shared-key")
    theirs = api.post_monitor(body, key=second, idempotency_key="shared-key")
    assert (mine.status, theirs.status) == (201, 201)
    assert mine.body["id"] != theirs.body["id"]
    assert mine.body["secret"] != theirs.body["secret"]
    assert api.monitor_names(first).count(body["name"]) == 1
    assert api.monitor_names(second).count(body["name"]) == 1


def test_different_keys_or_no_key_make_different_monitors(api):
    body = new_monitor()
    ids = {
        api.post_monitor(body, idempotency_key="one").body["id"],
        api.post_monitor(body, idempotency_key="two").body["id"],
        api.post_monitor(body).body["id"],
        api.post_monitor(body).body["id"],
    }
    assert len(ids) == 4
    assert api.monitor_names().count(body["name"]) == 4


@pytest.mark.parametrize("length", [1, 255])
def test_keys_of_1_to_255_characters_are_accepted(api, length):
    key = ("k" + uuid.uuid4().hex * 8)[:length] if length > 1 else uuid.uuid4().hex[0]
    first = api.post_monitor(new_monitor(), idempotency_key=key)
    assert first.status == 201, first.body


@pytest.mark.parametrize("key", ["", "x" * 256, "y" * 5000])
def test_an_empty_or_overlong_key_is_a_400(api, key):
    body = new_monitor()
    answer = api.post_monitor(body, idempotency_key=key)
    assert answer.status == 400, answer.body
    assert answer.error_code() == "invalid_idempotency_key"
    assert body["name"] not in api.monitor_names()


def test_a_failed_create_is_not_remembered(make_api):
    api = make_api(BLOCKHOOK_MAX_MONITORS_PER_TENANT="1")
    blocker = api.post_monitor(new_monitor())
    assert blocker.status == 201
    body = new_monitor()
    refused = api.post_monitor(body, idempotency_key="after-the-limit")
    assert refused.status == 409 and refused.error_code() == "monitor_limit"
    assert api.call("DELETE", f"/v1/monitors/{blocker.body['id']}").status == 204
    retried = api.post_monitor(body, idempotency_key="after-the-limit")
    assert retried.status == 201, retried.body
    assert api.monitor_names() == [body["name"]]


def test_an_invalid_body_never_reaches_the_key(api):
    assert api.post_monitor({"name": ""}, idempotency_key="invalid-first").status == 422
    body = new_monitor()
    assert api.post_monitor(body, idempotency_key="invalid-first").status == 201


# The records themselves: where the 24 h and the in-progress state live.


def record_id(api: Api, key: str, tenant_key: str | None = None) -> str:
    tenant = tenant_of_local_key(tenant_key or api.keys[0])
    digest = hashlib.sha256(json.dumps([tenant, key], sort_keys=True).encode()).hexdigest()
    return f"create_monitor#{digest}"


def test_a_record_expires_after_24_hours(api):
    table = boto3.resource("dynamodb").Table(idempotency.table_name())
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=idempotency.table_name())
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] in {"ENABLED", "ENABLING"}

    body = new_monitor()
    before = int(time.time())
    first = api.post_monitor(body, idempotency_key="day-long")
    after = int(time.time())
    item = table.get_item(Key={"id": record_id(api, "day-long")}, ConsistentRead=True)["Item"]
    assert item["status"] == "COMPLETED"
    assert before + 24 * 3600 <= int(item["expiration"]) <= after + 24 * 3600 + 1

    # Once expired (DynamoDB's TTL sweep may lag: the expiry itself is what counts), the key is new.
    table.update_item(
        Key={"id": record_id(api, "day-long")},
        UpdateExpression="SET expiration = :past",
        ExpressionAttributeValues={":past": before - 1},
    )
    again = api.post_monitor(body, idempotency_key="day-long")
    assert again.status == 201 and again.body["id"] != first.body["id"]
    assert api.monitor_names().count(body["name"]) == 2


def _in_progress(api: Api, key: str, body: dict[str, Any], until_ms: int) -> None:
    """Write the record a create that is still running (or died) holds, as powertools writes it."""
    payload = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    boto3.resource("dynamodb").Table(idempotency.table_name()).put_item(
        Item={
            "id": record_id(api, key),
            "status": "INPROGRESS",
            "expiration": int(time.time()) + 24 * 3600,
            "in_progress_expiration": until_ms,
            "validation": payload,
        }
    )


def test_a_repeat_while_the_first_still_runs_is_a_409(api):
    body = new_monitor()
    _in_progress(api, "busy", body, int(time.time() * 1000) + 600_000)
    answer = api.post_monitor(body, idempotency_key="busy")
    assert answer.status == 409, answer.body
    assert answer.error_code() == "idempotency_in_progress"
    assert body["name"] not in api.monitor_names()


def test_a_create_that_died_mid_way_frees_its_key_when_its_invocation_is_over(api):
    body = new_monitor()
    _in_progress(api, "died", body, int(time.time() * 1000) - 1)
    answer = api.post_monitor(body, idempotency_key="died")
    assert answer.status == 201, answer.body
    assert api.monitor_names().count(body["name"]) == 1


def test_creating_the_tables_again_keeps_the_records_table(api):
    from blockhook.store.models import create_tables

    create_tables()  # the local stack and the tests call it on tables that may exist: a no-op then
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=idempotency.table_name())
    assert ttl["TimeToLiveDescription"]["AttributeName"] == idempotency.EXPIRY_ATTRIBUTE
    body = new_monitor()
    first = api.post_monitor(body, idempotency_key="after-recreate")
    assert api.post_monitor(body, idempotency_key="after-recreate").body == first.body
