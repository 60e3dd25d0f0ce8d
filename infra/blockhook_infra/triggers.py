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
from .options import DEFAULT_DELIVER_MAX_CONCURRENCY
from .streaming import CONSUMER_GROUP, TOPIC, Streaming
from .topics import Topics

MATCHER_BATCH_SIZE = 100
DELIVER_BATCH_SIZE = 10
# Error handling of the matcher's MSK mapping (provisioned mode only): a block the matcher could not
# process is never passed over. The matcher reports exactly the records that failed (a dependency down
# or throttled, a bug), and the mapping retries them forever (-1) and at any age (-1): that partition,
# and so its chains, wait, and the alarms on failed records and on matcher lag fire. Records that are
# provably not blocks of ours (malformed) are counted and answered as done by the matcher itself.
# docs/deploy.md's runbook says how an operator resumes.
MATCHER_RETRY_ATTEMPTS = -1
MATCHER_MAX_RECORD_AGE_SECONDS = -1
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
        deliver_max_concurrency: int = DEFAULT_DELIVER_MAX_CONCURRENCY,
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
            # Receives nothing while retries are infinite; an operator who bounds them to move past a
            # poison block (the runbook's last resort) finds the skipped batch's coordinates here.
            on_failure=failed_batches.on_failure_destination(),
            # The mapping's own metrics: events polled, processed, failed; Kafka consumer lag.
            metrics_config=lambda_.MetricsConfig(
                metrics=[lambda_.MetricType.EVENT_COUNT, lambda_.MetricType.ERROR_COUNT,
                         lambda_.MetricType.KAFKA_METRICS]
            ),
        )
        functions.matcher.add_event_source(self.matcher_source)
        for child in functions.matcher.node.find_all():
            if isinstance(child, lambda_.CfnEventSourceMapping):
                # The mapping must not start polling before the topic exists.
                child.node.add_dependency(topics.blocks)
                # Infinite age: the construct takes a Duration, which cannot say -1.
                child.add_property_override("MaximumRecordAgeInSeconds", MATCHER_MAX_RECORD_AGE_SECONDS)

        # deliver answers which messages failed; only those come back, not the whole batch. Its
        # concurrency is capped by the event source (maximum concurrency), not reserved: slow receivers
        # hold at most this many instances, leaving the rest of the account's quota to the api and the
        # matcher, and an account at the default quota of 10, which cannot reserve any, still deploys.
        functions.deliver.add_event_source(
            sources.SqsEventSource(
                delivery_queue.queue,
                batch_size=DELIVER_BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=deliver_max_concurrency,
            )
        )
