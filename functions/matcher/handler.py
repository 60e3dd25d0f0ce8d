"""Matcher function: an Amazon MSK batch of `blocks` records to recorded deliveries."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import KafkaEvent, event_source

from blockhook.wiring import match_service

logger = Logger()


@logger.inject_lambda_context
@event_source(data_class=KafkaEvent)
def handler(event: KafkaEvent, context):
    # Records arrive grouped per partition in offset order; a chain's blocks share a partition.
    result = match_service().process(_values(event))
    logger.info("matched batch", extra=result.__dict__)
    return result.__dict__


def _values(event: KafkaEvent):
    for record in event.records:
        try:
            yield record.decoded_value
        except ValueError:
            # Not base64: the codec's malformed-message path logs and counts it.
            yield b""
