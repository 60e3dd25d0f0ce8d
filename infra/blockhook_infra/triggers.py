"""What makes each function run: a one-minute schedule (ingest), Kafka (matcher), SQS (deliver)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from .delivery_queue import DeliveryQueue
from .failed_batches import FailedBatches
from .functions import Functions
from .streaming import CONSUMER_GROUP, TOPIC, Streaming
from .topics import Topics

MATCHER_BATCH_SIZE = 100
DELIVER_BATCH_SIZE = 10
# Error handling of the matcher's MSK mapping (provisioned mode only). A failing record is retried
# (with the batch bisected) this many times before its batch goes to the failed-batches bucket: enough
# to ride out throttling or a deploy, bounded so that one poison block cannot stall its chain forever.
MATCHER_RETRY_ATTEMPTS = 10
# Lambda's maximum (7 days), which is also MSK Serverless's default retention. The age counts for a
# lagging matcher too, not only for failures: a shorter one would drop blocks of a matcher that fell
# behind, so only records older than the topic keeps anyway are given up.
MATCHER_MAX_RECORD_AGE = Duration.days(7)
# Provisioned pollers: one at least (no cold start of the mapping), and no more than the topic has
# partitions (a poller per partition is all the parallelism the order per chain allows).
MATCHER_MIN_POLLERS = 1
MATCHER_MAX_POLLERS = 3


class Triggers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Functions,
        streaming: Streaming,
        delivery_queue: DeliveryQueue,
        topics: Topics,
        failed_batches: FailedBatches,
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
        # before the mapping existed are matched too. It answers partial batch responses (a failed
        # record and the rest of its partition), so the good part of a batch is not matched again.
        self.matcher_source = sources.ManagedKafkaEventSource(
            cluster_arn=streaming.cluster_arn,
            topic=TOPIC,
            consumer_group_id=CONSUMER_GROUP,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=MATCHER_BATCH_SIZE,
            provisioned_poller_config=sources.ProvisionedPollerConfig(
                minimum_pollers=MATCHER_MIN_POLLERS, maximum_pollers=MATCHER_MAX_POLLERS
            ),
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=MATCHER_RETRY_ATTEMPTS,
            max_record_age=MATCHER_MAX_RECORD_AGE,
            on_failure=sources.S3OnFailureDestination(failed_batches.bucket),
        )
        functions.matcher.add_event_source(self.matcher_source)
        # The mapping must not start polling before the topic exists.
        mapping = functions.matcher.node.find_all()
        for child in mapping:
            if isinstance(child, lambda_.CfnEventSourceMapping):
                child.node.add_dependency(topics.blocks)

        # deliver answers which messages failed; only those come back, not the whole batch.
        functions.deliver.add_event_source(
            sources.SqsEventSource(
                delivery_queue.queue,
                batch_size=DELIVER_BATCH_SIZE,
                report_batch_item_failures=True,
            )
        )
