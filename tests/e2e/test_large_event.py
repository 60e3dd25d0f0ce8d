"""A log of 2 MiB of data (4 MiB as hex) in a block of a real Anvil: ingest goes on past it, and the
monitors that match it are sent it whole, with the exact data, through the local stack as `make up`
runs it. No Kafka message passes the limit and no DynamoDB item holds it inline."""

from __future__ import annotations

import json
import random

import boto3
import pytest

from blockhook.local.servers import anvil, free_port
from blockhook.streaming.codec import MAX_MESSAGE_BYTES
from tests.support.contracts import (
    ANVIL_ACCOUNTS,
    LOG_REPEATER_RUNTIME,
    emit_repeated_log,
    place_contract,
    rpc,
    send_tx,
)
from tests.support.local_stack import running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

REPEATER = "0x00000000000000000000000000000000000e1a7e"
TOPIC = "0x" + "5a" * 32
PIECE = random.Random(2026).randbytes(512 * 1024).hex()  # incompressible: it must go to S3 at every step
TIMES = 4
DATA = "0x" + PIECE * TIMES  # 2 MiB
DYNAMODB_ITEM_LIMIT = 400 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> str:
    """An Anvil whose blocks have room for a transaction of ~34 million gas."""
    logs = tmp_path_factory.mktemp("anvil-large")
    server = anvil(free_port(), log_path=logs / "anvil.log", gas_limit=100_000_000).start()
    try:
        place_contract(server.url, REPEATER, LOG_REPEATER_RUNTIME)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(node, tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("large-event-stack"), extra_env={"BLOCKHOOK_RPC_URL": node}) as local:
        yield local


def aws(stack, service: str):
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{stack.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def scan(stack, table: str) -> list[dict]:
    client, items, start = aws(stack, "dynamodb"), [], {}
    while True:
        page = client.scan(TableName=table, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def item_size(item: dict) -> int:
    """An upper bound of DynamoDB's size of an item: its names and values as sent."""
    return sum(len(name) + len(json.dumps(value, default=lambda raw: "b" * len(raw))) for name, value in item.items())


def test_a_2_mib_log_is_delivered_whole_and_ingest_goes_on(stack, node):
    sender, watched = ANVIL_ACCOUNTS[3], "0x" + "d4" * 20
    with WebhookReceiver() as logs, WebhookReceiver() as data_condition, WebhookReceiver() as refused, \
            WebhookReceiver() as transfers:  # fmt: skip
        log_filters = {"kinds": ["log"], "contracts": [REPEATER]}
        plain = stack.create_monitor({"name": "logs", "chain_ids": [31337], "webhook_url": logs.url,
                                      "filters": log_filters})  # fmt: skip
        # Conditions read the data: they must see the whole event, not what crossed Kafka in its place.
        sized = stack.create_monitor({"name": "big data", "chain_ids": [31337], "webhook_url": data_condition.url,
                                      "filters": log_filters, "condition": f"event.data.size() == {len(DATA)}"})  # fmt: skip
        stack.create_monitor({"name": "small data", "chain_ids": [31337], "webhook_url": refused.url,
                              "filters": log_filters, "condition": "event.data.size() < 1000"})  # fmt: skip
        stack.create_monitor({"name": "transfers", "chain_ids": [31337], "webhook_url": transfers.url,
                              "filters": {"kinds": ["native_transfer"], "addresses": [watched]}})  # fmt: skip

        receipt = emit_repeated_log(node, REPEATER, sender, TOPIC, PIECE, TIMES)
        assert receipt["status"] == "0x1" and receipt["logs"][0]["data"] == DATA
        after = send_tx(node, ANVIL_ACCOUNTS[4], watched, value=12345)  # a block after it, delivered too

        for receiver in (logs, data_condition):
            receiver.wait_for(lambda seen: any(r.json()["events"] for r in seen), timeout=90)
        transfers.wait_for(lambda seen: len(seen) >= 1, timeout=60)
        stack.wait_processed(31337, int(after["blockNumber"], 16))
        logs.verify_all(plain["secret"])
        data_condition.verify_all(sized["secret"])

    for receiver in (logs, data_condition):
        (payload,) = receiver.payloads()
        (event,) = payload["events"]
        assert event["data"] == DATA  # whole and exact
        assert event["kind"] == "log" and event["address"] == REPEATER and event["topics"] == [TOPIC]
        assert event["tx_hash"] == receipt["transactionHash"]
        assert payload["block"]["number"] == int(receipt["blockNumber"], 16)
        assert "claim" not in event
        block = rpc(node, "eth_getBlockByNumber", [receipt["blockNumber"], False])
        assert payload["block"]["hash"] == block["hash"]
    assert refused.payloads() == []
    (sent,) = [event for payload in transfers.payloads() for event in payload["events"]]
    assert sent["tx_hash"] == after["transactionHash"] and sent["value"] == "12345"

    # No DynamoDB item holds the event: the large ones refer to S3.
    deliveries, matches = scan(stack, "blockhook-deliveries"), scan(stack, "blockhook-matches")
    assert all(item_size(item) < DYNAMODB_ITEM_LIMIT for item in deliveries + matches)
    assert sum("payload_ref" in item for item in deliveries) == 2
    assert sum("events_ref" in item for item in matches) == 2
    keys = [obj["Key"] for obj in aws(stack, "s3").list_objects_v2(Bucket="blockhook-large-objects")["Contents"]]
    assert {key.split("/")[0] for key in keys} == {"events", "matches", "deliveries"}


def test_no_message_on_the_topic_passes_the_limit(stack):
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        "blocks",
        bootstrap_servers=f"127.0.0.1:{stack.kafka_port}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        fetch_max_bytes=50 * 1024 * 1024,
        max_partition_fetch_bytes=50 * 1024 * 1024,
    )
    try:
        values = [record.value for record in consumer]
    finally:
        consumer.close()
    assert values, "the topic holds the blocks of the test above"
    assert max(len(value) for value in values) <= MAX_MESSAGE_BYTES
    (crossed,) = [value for value in values if TOPIC.encode() in value]
    assert b'"claim":' in crossed and PIECE[:64].encode() not in crossed  # a stand-in crossed, not the data
