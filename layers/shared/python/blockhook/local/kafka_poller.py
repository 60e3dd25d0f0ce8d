"""A local stand-in for the MSK event source mapping: read the topic, hand the matcher
the event shape Amazon MSK gives a Lambda, commit offsets only after it succeeded.

Partitions are assigned explicitly (`assign()` plus the group's committed offsets):
the Tansu broker does not hand out consumer-group assignments promptly."""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from blockhook.local.lambdas import LocalFunction
from blockhook.local.worker import BackgroundWorker

logger = logging.getLogger(__name__)


def msk_event(records_by_partition: dict[TopicPartition, Sequence[Any]], bootstrap: str) -> dict[str, Any]:
    def encode(value: bytes | None) -> str | None:
        return None if value is None else base64.b64encode(value).decode()

    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/blockhook-local/local",
        "bootstrapServers": bootstrap,
        "records": {
            f"{tp.topic}-{tp.partition}": [
                {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "timestamp": record.timestamp,
                    "timestampType": "CREATE_TIME",
                    "key": encode(record.key),
                    "value": encode(record.value),
                    "headers": [],
                }
                for record in records
            ]
            for tp, records in records_by_partition.items()
        },
    }


def first_failed_offsets(answer: dict[str, Any]) -> dict[str, int]:
    """From a partial batch response, the lowest failed offset of each "topic-partition"."""
    lowest: dict[str, int] = {}
    for failure in answer.get("batchItemFailures") or []:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, dict):
            continue
        partition, offset = item.get("partition"), item.get("offset")
        if isinstance(partition, str) and isinstance(offset, int):
            lowest[partition] = min(offset, lowest.get(partition, offset))
    return lowest


class KafkaPoller(BackgroundWorker):
    name = "kafka-poller"
    bootstrap_timeout_ms = 10_000  # per start; a broker that does not answer makes it a failed start

    def __init__(
        self, function: LocalFunction, bootstrap: str, topic: str, group: str, batch_size: int = 100
    ) -> None:
        super().__init__()
        self.function = function
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.batch_size = batch_size

    def _run(self) -> None:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False, auto_offset_reset="earliest",
            bootstrap_timeout_ms=self.bootstrap_timeout_ms,
        )
        try:
            partitions = [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or [])]
            consumer.assign(partitions)
            self._rewind(consumer, partitions)
            self.ready()
            # Anything that raises from here (a commit the broker refused, say) restarts this poller,
            # which resumes at the committed offsets: those records are matched again, never skipped.
            while not self.stop_event.is_set():
                batch = consumer.poll(timeout_ms=100, max_records=self.batch_size)
                if not batch:
                    continue
                try:
                    answer = self.function.invoke(msk_event(batch, self.bootstrap), self.stop_event) or {}
                except Exception:
                    # Like the event source mapping: the same records come again.
                    logger.exception("matcher failed; retrying the batch")
                    self._rewind(consumer, list(batch))
                    self.stop_event.wait(1.0)
                    continue
                retry_from = first_failed_offsets(answer)
                consumer.commit(
                    {
                        tp: OffsetAndMetadata(retry_from.get(f"{tp.topic}-{tp.partition}", records[-1].offset + 1), None, -1)
                        for tp, records in batch.items()
                    }
                )
                if retry_from:
                    # A partial batch response: each failed partition resumes at its first failed record.
                    logger.warning("matcher reported failed records; retrying them", extra={"partitions": retry_from})
                    self._rewind(consumer, list(batch))
                    self.stop_event.wait(1.0)
        finally:
            consumer.close()

    @staticmethod
    def _rewind(consumer: KafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            committed = consumer.committed(tp)
            if committed is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
