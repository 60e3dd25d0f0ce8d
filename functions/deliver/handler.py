"""Deliver function: one webhook attempt per SQS message, the batch's messages at once; failures come
back as partial batch items.

The attempts of a batch run side by side on threads (powertools' async processor, each attempt in the
pool), so an endpoint that takes its whole timeout holds up no other endpoint's delivery."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from blockhook.delivery.queue import parse_message
from blockhook.wiring import delivery_service

BATCH_SIZE = 10  # the event source mapping's batch size (infra/blockhook_infra/functions.py)

logger = Logger()
metrics = Metrics()
processor = AsyncBatchProcessor(event_type=EventType.SQS)
attempts_pool = ThreadPoolExecutor(max_workers=BATCH_SIZE, thread_name_prefix="attempt")
# Metrics (namespace POWERTOOLS_METRICS_NAMESPACE): final outcomes, DeliveriesDelivered and
# DeliveriesFailed (out of attempts); their ratio is the failure rate the stack alarms on. "retrying"
# is not counted: the service answers it for a failed post and for a message that only hops towards a
# wait longer than SQS's 15 minutes alike.
_OUTCOME_METRICS = {"delivered": "DeliveriesDelivered", "failed": "DeliveriesFailed"}


def attempt(record: SQSRecord) -> str:
    try:
        delivery_id = parse_message(record.body)
    except ValueError as error:
        # Nothing to retry: a message we did not write. Logged, not re-queued.
        logger.error("malformed delivery message", extra={"error": str(error), "message_id": record.message_id})
        return "malformed"
    return delivery_service().attempt(delivery_id)


async def attempt_on_pool(record: SQSRecord) -> str:
    status = await asyncio.get_running_loop().run_in_executor(attempts_pool, attempt, record)
    if status in _OUTCOME_METRICS:  # counted here, on the event loop's one thread
        metrics.add_metric(name=_OUTCOME_METRICS[status], unit=MetricUnit.Count, value=1)
    return status


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    return async_process_partial_response(
        event=event, record_handler=attempt_on_pool, processor=processor, context=context
    )
