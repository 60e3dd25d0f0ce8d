"""Deliver function: one webhook attempt per SQS message, the batch's messages at once; failures come
back as partial batch items.

The attempts of a batch run side by side on threads (powertools' async processor, each attempt in the
pool), so an endpoint that takes its whole timeout holds up no other monitor's delivery; one monitor's
attempts keep the batch's order.

Logs: an attempt's lines (the domain's `blockhook.*` ones too) carry the message's correlation id, the
block's `<chain_id>:<hash>` or the API request that replayed it, and its delivery id: keys of the pool
thread (powertools' thread-safe keys), since the batch's attempts log at once. A retry it queues keeps
the id."""

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from blockhook.delivery.queue import correlation, read_message
from blockhook.wiring import delivery_service

BATCH_SIZE = 10  # the event source mapping's batch size (infra/blockhook_infra/functions.py)

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"blockhook"})
metrics = Metrics()
# X-Ray (in Lambda with active tracing): the DynamoDB, SQS and KMS calls around each attempt. Not
# `requests`: patching it would add a trace header to the posts our users' endpoints receive.
tracer = Tracer(patch_modules=("boto3", "botocore"))
processor = AsyncBatchProcessor(event_type=EventType.SQS)
attempts_pool = ThreadPoolExecutor(max_workers=BATCH_SIZE, thread_name_prefix="attempt")
# Metrics (namespace POWERTOOLS_METRICS_NAMESPACE): final outcomes, DeliveriesDelivered and
# DeliveriesFailed (out of attempts); their ratio is the failure rate the stack alarms on. "retrying"
# is not counted: the service answers it for a failed post and for a message that only hops towards a
# wait longer than SQS's 15 minutes alike.
_OUTCOME_METRICS = {"delivered": "DeliveriesDelivered", "failed": "DeliveriesFailed"}


def attempt(record: SQSRecord) -> str:
    try:
        message = read_message(record.body)
    except ValueError as error:
        # Not a message of ours, or damaged: reported as failed, so the queue's redrive policy parks it
        # in the dead-letter queue for a person to look at instead of deleting it.
        logger.error("malformed delivery message", extra={"error": str(error), "message_id": record.message_id})
        raise
    # Set when None too: a message without one (queued before they existed) shows no other's id.
    logger.thread_safe_append_keys(correlation_id=message.correlation_id, delivery_id=message.delivery_id)
    try:
        with correlation(message.correlation_id):
            status, origin = delivery_service().attempt_delivery(message.delivery_id)
    except Exception:
        logger.exception("delivery attempt raised; the message is retried")
        raise
    else:
        # origin: what made the delivery (live, removed, backfill, catch_up, reconcile, test), null when unknown.
        logger.info("delivery attempted", extra={"status": status, "origin": origin})
        return status
    finally:
        logger.thread_safe_clear_keys()  # the thread's next message may have none


async def attempt_on_pool(record: SQSRecord) -> str:
    # One monitor's deliveries of the batch go one after the other, in the batch's order (the
    # processor starts the records' tasks in order and asyncio's lock is first come, first served),
    # so a receiver sees a monitor's blocks in order; other monitors' go side by side.
    async with _lock_of(_monitor_of(record)):
        # In a copy of the invocation's context: the attempt's logging keys are its own, on any thread.
        run = contextvars.copy_context().run
        status = await asyncio.get_running_loop().run_in_executor(attempts_pool, run, attempt, record)
    _outcomes[status] = _outcomes.get(status, 0) + 1  # counted here, on the event loop's one thread
    return status


_monitor_locks: dict[str, asyncio.Lock] = {}
_outcomes: dict[str, int] = {}  # the invocation's attempts by status


def _monitor_of(record: SQSRecord) -> str:
    try:
        return read_message(record.body).monitor_id or record.message_id
    except ValueError:
        return record.message_id  # malformed: attempt() logs it


def _lock_of(key: str) -> asyncio.Lock:
    return _monitor_locks.setdefault(key, asyncio.Lock())


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event, context):
    _monitor_locks.clear()  # a batch's locks: each invocation runs its own event loop
    _outcomes.clear()
    try:
        return async_process_partial_response(
            event=event, record_handler=attempt_on_pool, processor=processor, context=context
        )
    finally:
        # Both, zero or not, every invocation: one whose attempts all wait for a retry publishes its
        # zeros rather than nothing (which powertools would warn about).
        for status, name in _OUTCOME_METRICS.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=_outcomes.get(status, 0))
