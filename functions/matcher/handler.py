"""Matcher function: an Amazon MSK batch of `blocks` records to recorded deliveries, answered as a
partial batch response (the event source mapping has ReportBatchItemFailures on).

The matching is not powertools' per-record handler: the matcher works per batch (one monitors-version
read per batch, and the catch-up of an added address re-matches the live blocks of the last batch). So
the whole batch goes through one MatchService.process call, and only when a record raises is the batch
split: that record and every later record of its partition are reported (a chain's blocks share a
partition and must be matched in order), the other partitions' records that had not been reached yet
are processed in a further call. The answer is then powertools' partial batch response
(BatchProcessor for EventType.Kafka): its record handler fails exactly the records found failed, so
the identifiers are powertools' Kafka shape, {"partition": "<topic>-<partition>", "offset": N}. Lambda
resumes each partition from its lowest reported offset, and MatchService is idempotent on repeats, so
records done before a failure may safely come again.

Metrics (namespace POWERTOOLS_METRICS_NAMESPACE), per invocation: MatcherBlocks, MatcherEvents,
MatcherMatches, MatcherDeliveries, MatcherRemovedDeliveries, MatcherMalformedRecords and
MatcherFailedRecords. The answer holds nothing but `batchItemFailures`, the shape Lambda reads.

Logs: while a record is matched, every line (the domain's `blockhook.*` ones too, and the failure of
that record) carries its block's correlation id, `<chain_id>:<hash>`, read from the record's value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, fields
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import KafkaEvent
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

from blockhook.matching.service import BatchResult, TopicRecord
from blockhook.streaming.codec import Base64Value, correlation_id_of
from blockhook.wiring import match_service

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"blockhook"})
metrics = Metrics()
# X-Ray (when the function runs in Lambda with active tracing): the DynamoDB and SQS calls of a batch.
tracer = Tracer(patch_modules=("boto3", "botocore"))
# Answers the batch: every record it is told failed is reported, also when that is all of them.
response_processor = BatchProcessor(event_type=EventType.Kafka, raise_on_entire_batch_failure=False)
_COUNT_METRICS = {
    "blocks": "MatcherBlocks",
    "events": "MatcherEvents",
    "matches": "MatcherMatches",
    "deliveries": "MatcherDeliveries",
    "removed": "MatcherRemovedDeliveries",
    "malformed": "MatcherMalformedRecords",
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_batch(event, match_service())


def process_batch(event: dict[str, Any], service: Any) -> dict[str, Any]:
    """Run the records of one MSK event through `service.process` (in the event's order: grouped per
    partition, offsets ascending) and answer {"batchItemFailures": [...]}; the counts go to metrics."""
    try:
        return _process_batch(event, service)
    finally:
        logger.thread_safe_clear_keys()  # no record's id on the next invocation's lines


def _process_batch(event: dict[str, Any], service: Any) -> dict[str, Any]:
    records = list(KafkaEvent(event).records)
    totals = BatchResult()
    failures: list[KafkaEventRecord] = []
    stopped: set[str] = set()  # partitions with a failed record: nothing after it may be processed
    pending = records
    while pending:
        cursor = _Cursor(pending)
        try:
            result = service.process(cursor.values())
        except Exception:
            failed = cursor.current
            if failed is None or cursor.exhausted:
                # Before the first record or after the last (the version read, progress): no record to
                # blame, so the whole batch is retried (with bisect on error); repeats are no-ops.
                raise
            partition = _partition(failed)
            logger.exception(
                "matcher failed on a record; it and the rest of its partition will be retried",
                extra={"partition": partition, "offset": failed.offset},
            )
            stopped.add(partition)
            failures.extend(r for r in pending[cursor.position :] if _partition(r) == partition)
            pending = [r for r in pending[cursor.position + 1 :] if _partition(r) not in stopped]
            continue
        _add(totals, result)
        pending = []
    logger.thread_safe_clear_keys()  # a line about the whole batch
    logger.info("matched batch", extra={**asdict(totals), "failed_records": len(failures)})
    for name, metric in _COUNT_METRICS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=getattr(totals, name))
    metrics.add_metric(name="MatcherFailedRecords", unit=MetricUnit.Count, value=len(failures))
    return _partial_batch_response(event, {(_partition(record), record.offset) for record in failures})


class RecordNotMatched(Exception):
    """A record the batch could not match (logged where it failed); Lambda sends it again."""


def _partial_batch_response(event: dict[str, Any], failed: set[tuple[str, int]]) -> dict[str, Any]:
    def report(record: KafkaEventRecord) -> None:
        if (_partition(record), record.offset) in failed:
            raise RecordNotMatched(f"{_partition(record)}@{record.offset}")

    return dict(process_partial_response(event=event, record_handler=report, processor=response_processor))


class _Cursor:
    """Hands the records to the service one at a time, each value with its place on the topic (which
    tells the service a repeated record from a block that came back), and remembers which one it is on."""

    def __init__(self, records: Sequence[KafkaEventRecord]) -> None:
        self.records = records
        self.position = -1
        self.exhausted = False

    @property
    def current(self) -> KafkaEventRecord | None:
        return self.records[self.position] if self.position >= 0 else None

    def values(self) -> Iterator[TopicRecord]:
        for position, record in enumerate(self.records):
            self.position = position
            # Decoded by the codec where it is read: of a block with no candidate, only its header
            # and address column (not base64: the codec's malformed-message path logs and counts it).
            value = Base64Value(record.value)
            # Set before the service gets the value: it works on the record until it asks for the next.
            logger.thread_safe_append_keys(correlation_id=correlation_id_of(value))
            yield TopicRecord(value, _partition(record), record.offset)
        # After the last record (catch-up, progress): no record's work.
        logger.thread_safe_append_keys(correlation_id=None)
        self.exhausted = True


def _partition(record: KafkaEventRecord) -> str:
    return f"{record.topic}-{record.partition}"


def _add(totals: BatchResult, result: BatchResult) -> None:
    for field in fields(BatchResult):
        setattr(totals, field.name, getattr(totals, field.name) + getattr(result, field.name))
