"""The local stand-in for the MSK event source mapping against a real Tansu broker: it hands the
matcher MSK-shaped batches, commits after success, and honours partial batch responses."""

from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
from kafka import KafkaProducer

from blockhook.local.kafka_poller import KafkaPoller, first_failed_offsets
from blockhook.streaming.producer import ensure_topic

pytestmark = pytest.mark.integration


class FailsOnceAt:
    """A matcher stand-in: reports the record at `offset` as failed the first time it sees it."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.failed = False
        self.seen: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()

    def invoke(self, event, stop=None):
        assert event["eventSource"] == "aws:kafka"
        failures = []
        with self.lock:
            for key, records in event["records"].items():
                for record in records:
                    if record["offset"] == self.offset and not self.failed:
                        self.failed = True
                        failures.append({"itemIdentifier": {"partition": key, "offset": record["offset"]}})
                    if failures:
                        continue  # the failed record and every later one of its partition: not processed
                    self.seen.append((record["offset"], base64.b64decode(record["value"])))
        return {"batchItemFailures": failures}


def test_first_failed_offsets_takes_the_lowest_per_partition():
    answer = {"batchItemFailures": [
        {"itemIdentifier": {"partition": "blocks-0", "offset": 7}},
        {"itemIdentifier": {"partition": "blocks-0", "offset": 5}},
        {"itemIdentifier": {"partition": "blocks-2", "offset": 1}},
        {"itemIdentifier": "malformed"},
    ]}
    assert first_failed_offsets(answer) == {"blocks-0": 5, "blocks-2": 1}
    assert first_failed_offsets({}) == {}


def test_a_reported_record_and_the_rest_of_its_partition_come_again(kafka_bootstrap):
    topic = "poller-" + uuid.uuid4().hex[:8]
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(4):
        producer.send(topic, key=b"1", value=f"block-{n}".encode())
    producer.flush()
    producer.close()

    matcher = FailsOnceAt(offset=2)
    poller = KafkaPoller(matcher, kafka_bootstrap, topic, group="g-" + uuid.uuid4().hex[:6]).start()
    try:
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            with matcher.lock:
                if len(matcher.seen) >= 4:
                    break
            time.sleep(0.1)
    finally:
        poller.stop()

    assert matcher.failed
    assert matcher.seen == [(0, b"block-0"), (1, b"block-1"), (2, b"block-2"), (3, b"block-3")]
