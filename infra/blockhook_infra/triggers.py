"""What makes each function run: a one-minute schedule (ingest), Kafka (matcher), SQS (deliver)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from .delivery_queue import DeliveryQueue
from .functions import Functions
from .streaming import CONSUMER_GROUP, TOPIC, Streaming

MATCHER_BATCH_SIZE = 100
DELIVER_BATCH_SIZE = 10


class Triggers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Functions,
        streaming: Streaming,
        delivery_queue: DeliveryQueue,
    ) -> None:
        super().__init__(scope, construct_id)

        # Each tick starts one ingest run of about a minute (see INGEST_STOP_MARGIN_SECONDS). A failed
        # or late tick is not retried: the next one comes within a minute and resumes from the
        # checkpoint. The same goes for Lambda's own async queue: a tick throttled by the reserved
        # concurrency of 1 (the previous run not quite finished) is dropped once a minute old
        # instead of being retried for hours.
        self.schedule = events.Rule(
            self,
            "IngestSchedule",
            description="blockhook: run ingest every minute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(functions.ingest, retry_attempts=0)],
        )
        functions.ingest.configure_async_invoke(retry_attempts=0, max_event_age=Duration.seconds(60))

        # The matcher consumes topic `blocks` from the start of what the topic holds: blocks produced
        # before the mapping existed are matched too.
        functions.matcher.add_event_source(
            sources.ManagedKafkaEventSource(
                cluster_arn=streaming.cluster_arn,
                topic=TOPIC,
                consumer_group_id=CONSUMER_GROUP,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=MATCHER_BATCH_SIZE,
            )
        )

        # deliver answers which messages failed; only those come back, not the whole batch.
        functions.deliver.add_event_source(
            sources.SqsEventSource(
                delivery_queue.queue,
                batch_size=DELIVER_BATCH_SIZE,
                report_batch_item_failures=True,
            )
        )
