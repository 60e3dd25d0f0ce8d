"""Deliver function: one webhook attempt per SQS message; failures come back as partial batch items."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from blockhook.delivery.queue import parse_message
from blockhook.wiring import delivery_service

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def attempt(record: SQSRecord) -> str:
    try:
        delivery_id = parse_message(record.body)
    except ValueError as error:
        # Nothing to retry: a message we did not write. Logged, not re-queued.
        logger.error("malformed delivery message", extra={"error": str(error), "message_id": record.message_id})
        return "malformed"
    return delivery_service().attempt(delivery_id)


@logger.inject_lambda_context
def handler(event, context):
    return process_partial_response(event=event, record_handler=attempt, processor=processor, context=context)
