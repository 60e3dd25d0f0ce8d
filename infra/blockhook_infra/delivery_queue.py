"""The SQS queue the deliver function consumes, with its dead-letter queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MAX_RECEIVE_COUNT = 5
# A message waits on the queue while deliver is down or throttled: a week to fix it. The DLQ keeps a
# message longer than the queue, as AWS advises, since a message's age on the DLQ counts from when it was
# first sent to the queue: 14 days, the most SQS keeps.
QUEUE_RETENTION = Duration.days(7)
DEAD_LETTER_RETENTION = Duration.days(14)


class DeliveryQueue(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, consumer_timeout: Duration) -> None:
        super().__init__(scope, construct_id)

        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Deliveries",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            # AWS's advice for a Lambda event source: at least six times the function timeout, so a
            # batch being retried after throttling is not handed to a second consumer meanwhile.
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * 6),
            # The delivery record in DynamoDB is the source of truth; a message that keeps failing
            # to be processed (not a webhook that keeps failing: that is retried by re-queueing)
            # is parked here for inspection.
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVE_COUNT, queue=self.dead_letters
            ),
        )
