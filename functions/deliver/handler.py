"""Deliver function: one webhook attempt per SQS message; failures come back as partial batch items."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from blockhook.delivery.queue import parse_message
from blockhook.wiring import delivery_service

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
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
    status = delivery_service().attempt(delivery_id)
    if status in _OUTCOME_METRICS:
        metrics.add_metric(name=_OUTCOME_METRICS[status], unit=MetricUnit.Count, value=1)
    return status


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event, context):
    return process_partial_response(event=event, record_handler=attempt, processor=processor, context=context)
