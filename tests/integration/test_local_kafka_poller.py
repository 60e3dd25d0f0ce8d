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


def topic_of_blocks(bootstrap: str, count: int) -> str:
    """A new one-partition topic holding the records block-0 .. block-<count - 1>."""
    topic = "poller-" + uuid.uuid4().hex[:8]
    ensure_topic(bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for n in range(count):
        producer.send(topic, key=b"1", value=f"block-{n}".encode())
    producer.flush()
    producer.close()
    return topic


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
    topic = topic_of_blocks(kafka_bootstrap, 4)

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


class AnswersGarbageOnce:
    """A matcher stand-in whose first answer is not a partial batch response (a handler bug): the poller
    itself then raises, after the matcher did its work but before any commit."""

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[int] = []
        self.lock = threading.Lock()

    def invoke(self, event, stop=None):
        with self.lock:
            self.calls += 1
            self.seen += [record["offset"] for records in event["records"].values() for record in records]
            return ["not", "an", "answer"] if self.calls == 1 else {"batchItemFailures": []}


def test_a_poller_that_raises_is_restarted_and_skips_nothing(kafka_bootstrap, caplog):
    topic = topic_of_blocks(kafka_bootstrap, 3)

    matcher = AnswersGarbageOnce()
    poller = KafkaPoller(matcher, kafka_bootstrap, topic, group="g-" + uuid.uuid4().hex[:6])
    poller.restart_delay = 0.1
    poller.start()
    try:
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up and matcher.calls < 2:
            time.sleep(0.1)
        time.sleep(0.5)  # anything more would show up now
    finally:
        poller.stop()

    assert poller.restarts == 1 and poller.fatal is None
    assert "kafka-poller failed; restarting it" in caplog.text
    # Nothing was committed before the failure: the restarted poller hands the same records again.
    assert matcher.seen == [0, 1, 2, 0, 1, 2]


def test_a_poller_that_cannot_run_at_all_says_so_and_stops(caplog):
    reported = []
    poller = KafkaPoller(AnswersGarbageOnce(), "127.0.0.1:9", "blocks", group="g-dead")  # no broker there
    poller.restart_delay = 0.05
    poller.bootstrap_timeout_ms = 300
    poller.on_fatal = reported.append
    poller.start()
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up and poller.alive:
        time.sleep(0.1)
    poller.stop()

    assert reported == [poller]
    assert poller.fatal.startswith(f"kafka-poller could not start ({poller.max_failed_starts} tries): ")
    assert "Unable to bootstrap from 127.0.0.1:9" in poller.fatal
