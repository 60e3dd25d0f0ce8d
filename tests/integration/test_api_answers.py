"""The API answers every request in words a user understands, in the error envelope, never a 5xx:
validation details that name the field, 405 for a method a path does not take, numbers and booleans
taken as their JSON types, the local API Gateway's own refusals, the body limit that fits the largest
call of addresses, and the rotate-secret answer. Through the deployed Lambda handler against a moto
server, and over HTTP through the local API Gateway stand-in."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from blockhook.api.limits import MAX_BODY_BYTES
from blockhook.api.models import MAX_ADDRESSES_PER_CALL, MAX_LABEL_LENGTH
from blockhook.local.api_gateway import ApiGatewayServer
from blockhook.local.servers import free_port
from tests.support.api import Answer, Api, assert_error, clear_api_caches, local_api
from tests.support.builders import LOCAL_CHAIN, UNUSED_WEBHOOK, monitor_body

# Words of pydantic's own that a user should never read.
PYDANTIC_WORDS = ("function-after", "LabelledAddress", "constrained-int", "literal[", "Value error", "Input should")
ADDRESS = "0x" + "ab" * 20
CHAINS = {"chains": [{"chain_id": LOCAL_CHAIN, "rpc_urls": ["http://127.0.0.1:9"]}]}


@pytest.fixture
def api(moto_endpoint) -> Iterator[Api]:
    """An API of local mode with two fresh tenants (keys of their own) and a rate limit no test reaches."""
    keys = [f"answers-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(patch, keys, CHAINS, BLOCKHOOK_RATE_LIMIT="1000000")
    clear_api_caches()


@pytest.fixture
def gateway(api) -> Iterator[str]:
    """The local API Gateway stand-in over the same function: its base URL."""
    server = ApiGatewayServer(api.function, free_port()).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def details_of(answer: Answer) -> list[dict]:
    error = assert_error(answer, 422, "validation_failed")
    text = json.dumps(error)
    for word in PYDANTIC_WORDS:
        assert word not in text, error
    for detail in error["details"]:
        assert set(detail) == {"field", "in", "message"}, detail
    first = error["details"][0]
    assert error["message"].startswith(f"{first['field'] or 'the body'}: {first['message']}"), error
    return error["details"]


# --- 1. validation details name the field and say what is wrong ----------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            monitor_body(filters={"addresses": [ADDRESS, ADDRESS, ADDRESS, "0x1234"]}),
            {"field": "filters.addresses[3]", "message": "an address is 0x followed by 40 hex digits"},
        ),
        (
            monitor_body(filters={"addresses": [{"address": "0xzz", "label": "a"}]}),
            {"field": "filters.addresses[0].address", "message": "an address is 0x followed by 40 hex digits"},
        ),
        (
            monitor_body(filters={"addresses": [{"address": ADDRESS, "label": "x" * (MAX_LABEL_LENGTH + 1)}]}),
            {"field": "filters.addresses[0].label", "message": f"must have at most {MAX_LABEL_LENGTH} characters"},
        ),
        (
            monitor_body(filters={"addresses": [42]}),
            {"field": "filters.addresses[0]", "message": "must be a string or an object"},
        ),
        (monitor_body(chain_ids=[1, 0]), {"field": "chain_ids[1]", "message": "must be greater than 0"}),
        (monitor_body(chain_ids=[1.5]), {"field": "chain_ids[0]", "message": "must be an integer"}),
        (monitor_body(name=5), {"field": "name", "message": "must be a string"}),
        (monitor_body(name=""), {"field": "name", "message": "must not be empty"}),
        ({"chain_ids": [LOCAL_CHAIN], "webhook_url": UNUSED_WEBHOOK}, {"field": "name", "message": "is required"}),
        (monitor_body(bogus=1), {"field": "bogus", "message": "is not a field of this request"}),
        (monitor_body(filters={"kinds": ["log"], "more": []}), {"field": "filters.more", "message": "is not a field of this request"}),
        (monitor_body(confirmations="3"), {"field": "confirmations", "message": "must be an integer or 'safe' or 'finalized'"}),
        (monitor_body(confirmations=-1), {"field": "confirmations", "message": "must be at least 0"}),
        ([1, 2], {"field": None, "message": "must be an object"}),
    ],
)
def test_validation_details_name_the_field_and_say_what_is_wrong(api, body, expected):
    details = details_of(api.call("POST", "/v1/monitors", body))
    assert {**expected, "in": "body"} in details, details


def test_details_of_an_address_change_and_a_query(api):
    monitor = api.create(addresses=[])
    details = details_of(api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", {"add": [ADDRESS, "nope"]}))
    assert details == [{"field": "add[1]", "in": "body", "message": "an address is 0x followed by 40 hex digits"}]
    details = details_of(api.call("GET", "/v1/monitors?limit=abc"))
    assert details == [{"field": "limit", "in": "query", "message": "must be an integer"}]
    details = details_of(api.call("GET", "/v1/monitors?limit=101"))
    assert details == [{"field": "limit", "in": "query", "message": "must be at most 100"}]


# --- 2. a known path with a method it does not take: 405 and Allow ------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/monitors", "GET, POST"),
        ("DELETE", "/v1/monitors", "GET, POST"),
        ("POST", "/v1/health", "GET"),
        ("PUT", "/v1/monitors/mon_000000000000000000000000", "DELETE, GET, PATCH"),
        ("DELETE", "/v1/monitors/mon_000000000000000000000000/addresses", "GET, POST"),
        ("GET", "/v1/monitors/mon_000000000000000000000000/rotate-secret", "POST"),
        ("PATCH", "/v1/chains", "GET"),
    ],
)
def test_a_method_a_known_path_does_not_take_answers_405_with_allow(api, method, path, allowed):
    answer = api.call(method, path)
    error = assert_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == allowed
    assert method in error["message"] and allowed in error["message"]


def test_unknown_paths_stay_404_and_a_key_is_checked_before_the_method(api):
    for path in ("/v1/nothing-here", "/v2/monitors", "/", "/v1/monitors/x/y/z"):
        assert_error(api.call("PUT", path), 404, "not_found")
    assert_error(api.call("PUT", "/v1/monitors", key=None), 401, "unauthorized")


def test_every_method_reaches_the_api_through_the_local_gateway(api, gateway):
    key = {"x-api-key": api.keys[0]}
    for method in ("PUT", "OPTIONS", "TRACE", "FROB"):
        answer = requests.request(method, f"{gateway}/v1/monitors", headers=key, timeout=30)
        assert answer.status_code == 405, (method, answer.text)
        assert answer.headers["Allow"] == "GET, POST"
        assert answer.json()["error"]["code"] == "method_not_allowed"
    head = requests.head(f"{gateway}/v1/chains", headers=key, timeout=30)
    assert head.status_code == 405 and head.headers["Allow"] == "GET" and head.content == b""


# --- 3. numbers and booleans as their JSON types; query integers in decimal digits ----------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"chain_ids": ["31337"]}, "chain_ids[0]", "must be an integer"),
        ({"chain_ids": [31337.0]}, "chain_ids[0]", "must be an integer"),
        ({"chain_ids": [True]}, "chain_ids[0]", "must be an integer"),
        ({"active": "true"}, "active", "must be true or false"),
        ({"active": 1}, "active", "must be true or false"),
        ({"confirmations": 3.0}, "confirmations", "must be an integer or 'safe' or 'finalized'"),
    ],
)
def test_a_number_or_boolean_given_as_another_type_answers_422(api, fields, field, message):
    details = details_of(api.post_monitor(monitor_body(**fields)))
    assert {"field": field, "in": "body", "message": message} in details


def test_backfill_and_reconcile_blocks_are_json_integers(api):
    monitor = api.create()
    for job in ("backfill", "reconcile"):
        path = f"/v1/monitors/{monitor['id']}/{job}"
        details = details_of(api.call("POST", path, {"from_block": "1", "to_block": 2.0}))
        assert {"field": "from_block", "in": "body", "message": "must be an integer"} in details
        assert {"field": "to_block", "in": "body", "message": "must be an integer"} in details
    details = details_of(api.call("POST", f"/v1/monitors/{monitor['id']}/reconcile", {"from_block": 1, "to_block": 2, "heal": "true"}))
    assert details == [{"field": "heal", "in": "body", "message": "must be true or false"}]


@pytest.mark.parametrize("limit", ["1e3", "%205", "5%20", "+5", "5_0", "%D9%A5", "0x10", "-1"])
def test_a_query_integer_must_be_decimal_digits(api, limit):
    monitor = api.create(addresses=[])
    for path in ("/v1/monitors", f"/v1/monitors/{monitor['id']}/addresses", f"/v1/monitors/{monitor['id']}/deliveries"):
        details = details_of(api.call("GET", f"{path}?limit={limit}"))
        assert [detail["field"] for detail in details] == ["limit"], details
        assert details[0]["in"] == "query"
    assert api.call("GET", "/v1/monitors?limit=05").status == 200


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"name": "x", "chain_ids": [' + b"1" * 5_000 + b"]}", "application/json", 400, "invalid_json"),
        (b'{"name": "x", "chain_ids": [1e400]}', "application/json", 422, "validation_failed"),
        (b'{"name": NaN, "chain_ids": [-Infinity]}', "application/json", 422, "validation_failed"),
        (b'{"name": "\xff\xfe"}', "application/json", 400, "invalid_json"),
        ('{"name": "\u00e9"}'.encode("latin-1"), "application/json; charset=latin-1", 400, "invalid_json"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "application/json", 400, "invalid_json"),
        (b'{"name": "x"}', "text/plain", 400, "unsupported_content_type"),
    ],
    ids=["integer of 5000 digits", "1e400", "NaN", "invalid UTF-8", "latin-1", "deep objects", "text/plain"],
)
def test_odd_bodies_answer_an_envelope(api, raw, content_type, status, code):
    assert_error(api.call("POST", "/v1/monitors", raw=raw, headers={"content-type": content_type}), status, code)


# --- 4. the local API Gateway's own refusals carry the envelope ------------------------------------


def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /v1/monitors HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /v1/monitors HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /v1/monitors HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"POST /v1/monitors HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /v1/monitors HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", 400),
        (b"GARBAGE\r\n\r\n", 400),
    ],
    ids=["header too large", "too many headers", "request line too long", "HTTP version", "negative length", "length not a number", "no request line"],
)
def test_the_local_gateways_own_refusals_are_error_envelopes(gateway, request_bytes, status):
    port = int(gateway.rsplit(":", 1)[1])
    answered, headers, body = _raw_exchange(port, request_bytes)
    assert answered == status, body[:300]
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] and error["message"]


# --- 5. the body limit fits the largest call of addresses ----------------------------------------------


def _labelled_body(count: int, size: int | None = None) -> bytes:
    """`count` labelled addresses, each label of the longest length in 2-byte characters; padded with
    whitespace to `size` bytes."""
    items = [{"address": "0x" + f"{n:040x}", "label": "é" * MAX_LABEL_LENGTH} for n in range(count)]
    body = json.dumps({"add": items}, ensure_ascii=False).encode()
    if size is not None:
        assert len(body) <= size, (len(body), size)
        body = body[:-1] + b" " * (size - len(body)) + b"}"
    return body


def test_the_largest_call_of_labelled_addresses_fits_and_a_byte_or_an_address_more_answers_413(api):
    monitor = api.create(addresses=[])
    path = f"/v1/monitors/{monitor['id']}/addresses"

    over = _labelled_body(MAX_ADDRESSES_PER_CALL, MAX_BODY_BYTES + 1)
    error = assert_error(api.call("POST", path, raw=over), 413, "payload_too_large")
    assert str(MAX_BODY_BYTES) in error["message"]
    one_more = json.dumps({"add": [ADDRESS] * (MAX_ADDRESSES_PER_CALL + 1)}).encode()
    error = assert_error(api.call("POST", path, raw=one_more), 413, "too_many_addresses")
    assert f"{MAX_ADDRESSES_PER_CALL}" in error["message"]
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["address_count"] == 0

    largest = _labelled_body(MAX_ADDRESSES_PER_CALL, MAX_BODY_BYTES)
    assert len(largest) == MAX_BODY_BYTES
    answer = api.call("POST", path, raw=largest)
    assert answer.status == 200, answer.body
    assert answer.body == {"added": MAX_ADDRESSES_PER_CALL, "removed": 0, "address_count": MAX_ADDRESSES_PER_CALL}
    first = api.call("GET", f"{path}?limit=1").body["items"][0]
    assert first["label"] == "é" * MAX_LABEL_LENGTH


# --- 6. rotate-secret says until when the previous secret signs ----------------------------------------


def test_rotate_secret_answers_until_when_the_replaced_secret_signs(api):
    from blockhook.delivery.service import signing_secrets
    from blockhook.store import monitors as monitor_store
    from blockhook.store.secret_box import configured_secret_box

    created = api.create()
    path = f"/v1/monitors/{created['id']}/rotate-secret"
    before = int(time.time())
    first = api.call("POST", path)
    assert first.status == 200, first.body
    expires = first.body["previous_secret_expires_at"]
    assert before + 24 * 3600 <= expires <= int(time.time()) + 24 * 3600
    second = api.call("POST", path)
    assert second.status == 200, second.body
    assert second.body["previous_secret_expires_at"] >= expires

    # Within the 24 hours, a second rotation keeps only the secret it replaced: the first one is gone.
    from blockhook.api.auth import tenant_of_local_key

    monitor = monitor_store.get_monitor(tenant_of_local_key(api.keys[0]), created["id"])
    box = configured_secret_box()
    now = time.time()
    assert signing_secrets(monitor, now, box) == [second.body["secret"], first.body["secret"]]
    assert signing_secrets(monitor, second.body["previous_secret_expires_at"] + 1, box) == [second.body["secret"]]
    assert created["secret"] not in signing_secrets(monitor, now, box)
