"""Correlation ids in the logs of the functions: a block's work is logged under `<chain_id>:<block_hash>`
by ingest, the matcher and the deliver function (its delivery messages carry the id, retries keep it),
and a delivery replayed through the API is attempted under the API request's id.

The deployed handlers run in this process (LocalFunction) against Anvil, Tansu, a moto server and a real
webhook receiver; each function's logs are the JSON lines it printed, read from stdout after it ran.
Each handler is loaded with a service name of its own, as deployed, so its lines say which it is."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import secrets
import time
import uuid
from types import ModuleType
from typing import Any

import boto3
import pytest
from kafka import TopicPartition

from blockhook.api.auth import tenant_of_local_key
from blockhook.delivery.queue import DeliveryQueue, correlation, read_message
from blockhook.local.kafka_poller import msk_event as topic_msk_event
from blockhook.local.lambdas import FUNCTIONS_DIR, LocalFunction
from blockhook.store.models import ChainStateModel
from blockhook.streaming.codec import BlockHeader, encode_block
from blockhook.streaming.producer import ensure_topic
from tests.support.builders import api_event, create_monitor, msk_event, scheduled_event, sqs_event
from tests.support.contracts import ANVIL_ACCOUNTS, send_tx
from tests.support.kafka import topic_records
from tests.support.receiver import WebhookReceiver, status

pytestmark = pytest.mark.integration

CHAIN_ID = 31337  # the session's Anvil
INGEST_STOP_MARGIN_SECONDS = 1
INGEST_RUN_SECONDS = 3  # the ingest invocation polls this long before its time is "up"


class Functions:
    """The four handlers, each loaded when first used, under a service name of its own."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.run = uuid.uuid4().hex[:8]
        self.loaded: dict[str, LocalFunction] = {}

    def service(self, name: str) -> str:
        return f"corr-{name}-{self.run}"

    def module(self, name: str) -> ModuleType:
        """The handler's module itself, loaded as `invoke` loads it."""
        self.monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", self.service(name))
        spec = importlib.util.spec_from_file_location(f"correlation_test_{name}", FUNCTIONS_DIR / name / "handler.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def invoke(self, name: str, event: dict[str, Any], timeout_seconds: float = 60) -> tuple[Any, list[dict]]:
        """Invoke the function; returns its answer and the JSON lines printed while it ran."""
        if name not in self.loaded:
            # A Logger reads its service name and level when created, and writes to the stdout of then.
            self.monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", self.service(name))
            self.loaded[name] = LocalFunction(name, timeout_seconds=timeout_seconds)
        self.capsys.readouterr()
        answer = self.loaded[name].invoke(event)
        return answer, json_lines(self.capsys.readouterr().out)


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            document = json.loads(line)
            if isinstance(document, dict):
                lines.append(document)
    return lines


def lines_with(lines: list[dict], message: str, **fields: Any) -> list[dict]:
    return [
        line for line in lines
        if line.get("message") == message and all(line.get(key) == value for key, value in fields.items())
    ]  # fmt: skip


@pytest.fixture
def topic(kafka_bootstrap) -> str:
    name = "blocks-corr-" + uuid.uuid4().hex[:8]
    ensure_topic(kafka_bootstrap, name, partitions=1)
    return name


@pytest.fixture
def api_key() -> str:
    return "correlation-key-" + secrets.token_hex(8)


@pytest.fixture
def functions(moto_endpoint, kafka_bootstrap, anvil_rpc, topic, queue_url, api_key, monkeypatch, capsys):
    from blockhook import wiring
    from blockhook.api import routes
    from blockhook.config import settings

    # The handlers point the `blockhook` loggers at their own output: put them back for the next tests.
    domain = logging.getLogger("blockhook")
    saved = (domain.handlers[:], domain.propagate, domain.level)
    caches = (settings, routes.known_chains, wiring.delivery_service, wiring.match_service,
              wiring.chain_ingests, wiring.backfill_runner)  # fmt: skip
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    monkeypatch.setenv("BLOCKHOOK_MODE", "local")
    monkeypatch.setenv("BLOCKHOOK_RPC_URL", anvil_rpc)
    monkeypatch.setenv("BLOCKHOOK_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("BLOCKHOOK_KAFKA_TOPIC", topic)
    monkeypatch.setenv("BLOCKHOOK_DELIVERY_QUEUE_URL", queue_url)
    monkeypatch.setenv("BLOCKHOOK_RETRY_SCHEDULE", "0,0")  # a retry is due at once
    monkeypatch.setenv("BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS", str(INGEST_STOP_MARGIN_SECONDS))
    monkeypatch.setenv("BLOCKHOOK_API_KEYS", api_key)
    for cache in caches:
        cache.cache_clear()
    yield Functions(monkeypatch, capsys)
    if wiring.chain_ingests.cache_info().currsize:
        for ingest in wiring.chain_ingests():
            ingest.producer.close()
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()
    domain.handlers, domain.propagate = saved[0], saved[1]
    domain.setLevel(saved[2])


def watch_transfers_to(tenant_id: str, recipient: str, webhook_url: str):
    return create_monitor(
        tenant_id, CHAIN_ID, ["native_transfer"], [(recipient, None)], name="correlation ids", webhook_url=webhook_url
    )


def topic_event(bootstrap: str, topic: str) -> dict:
    """Everything on the topic, as the MSK event the matcher gets."""
    return topic_msk_event({TopicPartition(topic, 0): topic_records(bootstrap, topic)}, bootstrap)


def queued_message(queue_url: str, delivery_id: str, timeout: float = 30) -> dict:
    """The next message on the queue for this delivery (others are removed: other monitors' work)."""
    sqs = boto3.client("sqs")
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if read_message(message["Body"]).delivery_id == delivery_id:
                return message
    raise AssertionError(f"no message for {delivery_id} within {timeout} s")


def test_a_blocks_work_is_logged_under_its_id_by_ingest_matcher_and_deliver_and_a_replay_under_the_api_request(
    functions, anvil_rpc, kafka_bootstrap, topic, queue_url, api_key, caplog
):
    recipient = "0x" + secrets.token_hex(20)
    with WebhookReceiver(status(500)) as receiver:
        monitor = watch_transfers_to(tenant_of_local_key(api_key), recipient, receiver.url)
        with contextlib.suppress(ChainStateModel.DoesNotExist):
            ChainStateModel.get(f"chain#{CHAIN_ID}").delete()  # ingest starts afresh, at the head
        receipt = send_tx(anvil_rpc, ANVIL_ACCOUNTS[1], recipient, value=4242)  # automine: the head block
        number, block_id = int(receipt["blockNumber"], 16), f"{CHAIN_ID}:{receipt['blockHash']}"

        # Ingest publishes the block and logs it under its id, once (no second handler prints it).
        answer, ingest_lines = functions.invoke(
            "ingest", scheduled_event(), timeout_seconds=INGEST_STOP_MARGIN_SECONDS + INGEST_RUN_SECONDS
        )
        assert answer["blocks"] >= 1 and answer["errors"] == 0
        (published,) = lines_with(ingest_lines, "block published", correlation_id=block_id)
        assert published["block_number"] == number
        # A domain line (std logging), formatted by the ingest function's powertools Logger.
        assert published["name"] == "blockhook.ingest.service"
        assert published["service"] == functions.service("ingest") and published["level"] == "INFO"

        # The matcher records the monitor's delivery under the block's id; its batch line has no id.
        answer, matcher_lines = functions.invoke("matcher", topic_event(kafka_bootstrap, topic))
        assert answer["batchItemFailures"] == []
        (recorded,) = lines_with(matcher_lines, "deliveries recorded", monitor_id=monitor.monitor_id)
        assert recorded["correlation_id"] == block_id
        assert recorded["service"] == functions.service("matcher")
        (delivery_id,) = recorded["delivery_ids"]
        (batch,) = lines_with(matcher_lines, "matched batch")
        assert "correlation_id" not in batch

        # Its message carries the id; deliver logs the attempt (a 500) and its retry under it.
        message = queued_message(queue_url, delivery_id)
        assert json.loads(message["Body"]) == {
            "delivery_id": delivery_id, "correlation_id": block_id, "monitor_id": monitor.monitor_id
        }
        answer, first_lines = functions.invoke("deliver", sqs_event([message]))
        assert answer == {"batchItemFailures": []}
        (first,) = lines_with(first_lines, "delivery attempted", delivery_id=delivery_id)
        assert (first["correlation_id"], first["status"], first["origin"]) == (block_id, "retrying", "live")
        assert first["service"] == functions.service("deliver")
        retry = queued_message(queue_url, delivery_id)
        assert read_message(retry["Body"]).correlation_id == block_id
        answer, retry_lines = functions.invoke("deliver", sqs_event([retry]))
        (second,) = lines_with(retry_lines, "delivery attempted", delivery_id=delivery_id)
        assert (second["correlation_id"], second["status"]) == (block_id, "delivered")

        # A replay through the API: its message and the attempt carry the API Gateway request id.
        replay = api_event(
            "POST", f"/v1/monitors/{monitor.monitor_id}/deliveries/{delivery_id}/replay", {"x-api-key": api_key}
        )
        request_id = replay["requestContext"]["requestId"]
        answer, _ = functions.invoke("api", replay)
        assert answer["statusCode"] == 202, answer.get("body")
        replayed = queued_message(queue_url, delivery_id)
        assert json.loads(replayed["Body"]) == {
            "delivery_id": delivery_id, "correlation_id": request_id, "monitor_id": monitor.monitor_id
        }
        answer, replay_lines = functions.invoke("deliver", sqs_event([replayed]))
        (third,) = lines_with(replay_lines, "delivery attempted", delivery_id=delivery_id)
        assert (third["correlation_id"], third["status"], third["origin"]) == (request_id, "delivered", "live")
        assert len(receiver.requests) == 3

    # The domain's records went to the functions' handlers only, not on to the root logger's as well.
    assert not [record.getMessage() for record in caplog.records if record.name.startswith("blockhook.")]


class FailingOnSecond:
    """Stands in for MatchService: fails on the second value it is handed."""

    def process(self, values):
        for position, _ in enumerate(values):
            if position == 1:
                raise RuntimeError("throttled")
        raise AssertionError("the second value fails")


def test_a_record_the_matcher_fails_on_is_logged_under_its_blocks_id(functions):
    headers = [BlockHeader(CHAIN_ID, n, "0x" + secrets.token_hex(32), "0x" + "00" * 32, 0) for n in (500, 501)]
    event = msk_event({0: [encode_block(header, [])[0] for header in headers]}, first_offset=0)
    matcher = functions.module("matcher")
    functions.capsys.readouterr()
    answer = matcher.process_batch(event, FailingOnSecond())
    lines = json_lines(functions.capsys.readouterr().out)
    assert [failure["itemIdentifier"]["offset"] for failure in answer["batchItemFailures"]] == [1]
    (failed,) = [line for line in lines if line.get("message", "").startswith("matcher failed on a record")]
    assert failed["correlation_id"] == headers[1].correlation_id
    (batch,) = lines_with(lines, "matched batch")
    assert "correlation_id" not in batch


def test_a_delivery_message_carries_the_senders_correlation_id_or_else_the_current_one(queue_url):
    queue = DeliveryQueue(queue_url, client=boto3.client("sqs"))
    queue.send(["dlv_none"])
    queue.send(["dlv_block"], correlation_id="1:0xab")
    with correlation("req-1"):
        queue.send(["dlv_current"])
        queue.send(["dlv_named"], correlation_id="1:0xcd")
    queue.send(["dlv_after"])

    bodies = {}
    sqs = boto3.client("sqs")
    while len(bodies) < 5:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            body = json.loads(message["Body"])
            bodies[body["delivery_id"]] = body
    assert bodies == {
        "dlv_none": {"delivery_id": "dlv_none"},
        "dlv_block": {"delivery_id": "dlv_block", "correlation_id": "1:0xab"},
        "dlv_current": {"delivery_id": "dlv_current", "correlation_id": "req-1"},
        "dlv_named": {"delivery_id": "dlv_named", "correlation_id": "1:0xcd"},
        "dlv_after": {"delivery_id": "dlv_after"},
    }
