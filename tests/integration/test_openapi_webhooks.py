"""The webhooks of docs/openapi.json describe what a receiver really gets: a delivery of a block with
an event of every kind, matched and posted by the real code (DeliveryService against the moto server,
to a real receiver), and the test delivery; their bodies and every header validate against the
document, and the document's example headers are real signatures of its example bodies."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook

from blockhook.api.openapi_webhooks import EXAMPLE_SECRET, EXAMPLE_TIMESTAMP
from blockhook.chain import kinds
from blockhook.chain.events import block_events
from blockhook.delivery import signing
from blockhook.matching.log_args import decoder_for
from blockhook.matching.matcher import MonitorView, Watcher, match_events
from blockhook.streaming.codec import BlockHeader
from tests.integration.test_delivery_service import make_service, rotate, run_queue, secret_of
from tests.support.builders import A, B, C, create_monitor, every_kind_block
from tests.support.openapi import document, errors, pointer, resolve
from tests.support.receiver import RecordedRequest, WebhookReceiver

pytestmark = pytest.mark.integration

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"


def _webhook(name: str) -> dict:
    return document()["webhooks"][name]["post"]


def _check_request(name: str, request: RecordedRequest) -> None:
    """The request's body and headers are what the document's webhook `name` describes."""
    operation = _webhook(name)
    assert list(operation["requestBody"]["content"]) == [request.header("Content-Type")]
    body_at = pointer("webhooks", name, "post", "requestBody", "content", "application/json", "schema")
    assert errors(body_at, request.json()) == []
    for position, parameter in enumerate(operation["parameters"]):
        assert parameter["in"] == "header" and parameter["required"]
        value = request.header(parameter["name"])
        assert value is not None, f"{parameter['name']} is documented but was not sent"
        at = pointer("webhooks", name, "post", "parameters", position, "schema")
        assert errors(at, value) == [], parameter["name"]


def _documented_event_fields(kind: str) -> set[str]:
    ref = resolve(document()["components"]["schemas"]["WebhookEvent"])["discriminator"]["mapping"][kind]
    return set(resolve({"$ref": ref})["properties"])


def test_a_real_delivery_of_every_kind_and_a_test_delivery_are_what_the_webhooks_describe(
    queue_url, tenant_id, chain_id
):
    block = every_kind_block()
    header = BlockHeader(chain_id, block.number, block.hash, block.parent_hash, block.timestamp)
    with WebhookReceiver() as receiver:
        # Rotated: the headers carry two signatures, as they do for 24 hours after a rotation.
        monitor = rotate(create_monitor(tenant_id, chain_id, webhook_url=receiver.url))
        view = MonitorView(
            monitor.monitor_id, tenant_id, frozenset({chain_id}), frozenset(kinds.KIND_NAMES),
            decoders={(decoder := decoder_for(TRANSFER)).topic0: decoder},
        )  # fmt: skip
        # A labelled, B not, and C (every log's emitter) labelled: events with and without labels.
        watchers = {A: [Watcher(view.monitor_id, "customer-42")], B: [Watcher(view.monitor_id)],
                    C: [Watcher(view.monitor_id, "token")]}  # fmt: skip
        matches = match_events(block_events(chain_id, block), {view.monitor_id: view}, watchers)
        events = [match.delivered_event() for match in matches]
        service = make_service(queue_url, (0,))
        service.enqueue(tenant_id, monitor.monitor_id, header, events)
        service.enqueue(tenant_id, monitor.monitor_id, header, events, removed=True)
        assert run_queue(service, queue_url) == ["delivered", "delivered"]
        assert service.send_test(monitor).ok
        *deliveries, test = receiver.requests

    assert [request.json()["removed"] for request in deliveries] == [False, True]
    for request in deliveries:
        body = request.json()
        assert {event["kind"] for event in body["events"]} == set(kinds.KIND_NAMES)
        assert any("labels" in event for event in body["events"])
        assert any("labels" not in event for event in body["events"])
        assert any("args" in event for event in body["events"])
        for event in body["events"]:
            # The schemas allow fields added later; today each field sent is a documented one.
            assert set(event) <= _documented_event_fields(event["kind"]), event["kind"]
        assert len(request.header(signing.SIGNATURE_HEADER).split(",v1=")) == 3
        _check_request("delivery", request)
        Webhook(secret_of(monitor)).verify(request.body, dict(request.headers))
    assert test.json()["test"] is True
    _check_request("testDelivery", test)


def test_every_header_a_webhook_carries_is_documented():
    """Content-Type is the request body's media type; every other header is a documented parameter."""
    sent = signing.webhook_headers("dlv_" + "0" * 32, ["whsec_" + "00" * 24], b"{}", 1)
    for name in ("delivery", "testDelivery"):
        documented = {parameter["name"].lower() for parameter in _webhook(name)["parameters"]}
        assert documented | {"content-type"} == {header.lower() for header in sent}


@pytest.mark.parametrize("name", ["delivery", "testDelivery"])
def test_the_example_headers_sign_the_example_body(name):
    operation = _webhook(name)
    (example,) = operation["requestBody"]["content"]["application/json"]["examples"].values()
    body = json.dumps(example["value"], separators=(",", ":"), ensure_ascii=False).encode()
    headers = {parameter["name"]: parameter["example"] for parameter in operation["parameters"]}
    assert headers[signing.SIGNATURE_HEADER] == signing.signature_header([EXAMPLE_SECRET], EXAMPLE_TIMESTAMP, body)
    standard = signing.standard_signature([EXAMPLE_SECRET], example["value"]["id"], EXAMPLE_TIMESTAMP, body)
    assert headers[signing.STANDARD_SIGNATURE_HEADER] == standard
    assert EXAMPLE_SECRET in operation["description"]
