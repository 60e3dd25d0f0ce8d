"""Alarms and a dashboard: is every chain ingested, is the matcher keeping up, are webhooks delivered.

Every alarm notifies one SNS topic (subscribe a pager or an e-mail to it; context `alarm_email`
subscribes one address at deploy time).
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from blockhook.store.chain_state import STALL_BLOCK_TIMES

from .delivery_queue import DeliveryQueue
from .functions import Functions
from .options import prefixed

PERIOD = Duration.minutes(5)
# Ingest lag alarm: this many seconds of a chain's blocks behind the node (at its poll interval),
# for three periods in a row, or no lag reported at all (ingest or the node down).
INGEST_LAG_SECONDS = 300
MIN_INGEST_LAG_BLOCKS = 10
# A chain is stalled when its node's head has not moved for STALL_BLOCK_TIMES block times (poll
# intervals; what GET /v1/chains calls stalled), and at least this many seconds.
MIN_STALL_SECONDS = 120
# Matcher: records of `blocks` not yet matched. A block per record, so this is blocks behind.
MATCHER_OFFSET_LAG = 100
# Matcher records reported failed (retried by the mapping forever, so their chains wait): alarm once
# they keep failing for this many 5-minute periods in a row, past a throttle or a deploy.
MATCHER_FAILING_PERIODS = 2
# Ingest published blocks but the matcher was not invoked at all, for this many periods in a row.
MATCHER_SILENT_PERIODS = 3
# The oldest message on the deliveries queue: retries wait at most 15 minutes per message (SQS's delay
# limit; longer waits hop), so an older message means deliver is not taking them.
DELIVERY_MESSAGE_MAX_AGE_SECONDS = 1800
# Share of deliveries that ran out of attempts, over an hour with at least a few outcomes.
DELIVERY_FAILURE_RATE = 0.10
MIN_DELIVERY_OUTCOMES = 10


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Functions,
        delivery_queue: DeliveryQueue,
        chains_json: str,
        alarm_email: str | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        namespace = functions.metrics_namespace
        # The display name is the sender of the e-mails: it says which deployment is unwell.
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name=prefixed(prefix, "blockhook alarms", " "), enforce_ssl=True
        )
        # CloudWatch alarms publish to the topic: the service principal, but only on behalf of alarms of this
        # account and region (aws:SourceAccount and aws:SourceArn: no other account's alarm can use the
        # service as a confused deputy to post here).
        stack = Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        action = cw_actions.SnsAction(self.topic)

        def alarm(name: str, **props) -> cw.Alarm:
            created = cw.Alarm(self, name, alarm_name=None, **props)
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms[name] = created
            return created

        widgets_lag = []
        for chain in json.loads(chains_json)["chains"]:
            chain_id = chain["chain_id"]
            lag = cw.Metric(
                namespace=namespace,
                metric_name="IngestLagBlocks",
                dimensions_map={"ChainId": str(chain_id), "service": "blockhook-ingest"},
                statistic="Maximum",
                period=PERIOD,
            )
            widgets_lag.append(lag.with_(label=f"chain {chain_id}"))
            poll_interval = float(chain.get("poll_interval", 1.0))
            head_age = cw.Metric(
                namespace=namespace,
                metric_name="ChainHeadAgeSeconds",
                dimensions_map={"ChainId": str(chain_id), "service": "blockhook-ingest"},
                statistic="Minimum",
                period=PERIOD,
            )
            alarm(
                f"ChainStalled{chain_id}",
                alarm_description=f"The node of chain {chain_id} has not moved its head (a dead node looks healthy "
                "otherwise), or reports nothing",
                metric=head_age,
                threshold=max(MIN_STALL_SECONDS, STALL_BLOCK_TIMES * poll_interval),
                evaluation_periods=2,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.BREACHING,
            )
            alarm(
                f"IngestLagChain{chain_id}",
                alarm_description=f"Ingest of chain {chain_id} is behind its node, or reports nothing",
                metric=lag,
                threshold=max(MIN_INGEST_LAG_BLOCKS, int(INGEST_LAG_SECONDS / poll_interval)),
                evaluation_periods=3,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.BREACHING,
            )

        # Lambda's OffsetLag of the matcher's Kafka mapping (the mapping's metrics config adds its event and
        # error counts beside it). Reported only while the mapping polls: a mapping that stopped is
        # MatcherNotInvoked's to catch, so silence here is not breaching.
        offset_lag = functions.matcher.metric("OffsetLag", statistic="Maximum", period=PERIOD)
        alarm(
            "MatcherOffsetLag",
            alarm_description="The matcher is behind the blocks topic",
            metric=offset_lag,
            threshold=MATCHER_OFFSET_LAG,
            evaluation_periods=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

        def own(name: str, service: str) -> cw.Metric:
            return cw.Metric(
                namespace=namespace, metric_name=name, dimensions_map={"service": f"blockhook-{service}"},
                statistic="Sum", period=PERIOD,
            )  # fmt: skip

        failed_records = own("MatcherFailedRecords", "matcher")
        alarm(
            "MatcherFailedRecords",
            alarm_description="The matcher keeps failing records; the mapping retries them forever, so their chains "
            "wait: see the runbook in docs/deploy.md",
            metric=failed_records,
            threshold=0,
            evaluation_periods=MATCHER_FAILING_PERIODS,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        # Missing data breaches: ingest reports IngestBlocks on every run (0 when no block came), once a
        # minute, so a period where neither metric has a point means nothing runs at all, never a healthy
        # quiet; the alarm says so instead of staying OK.
        silent = cw.MathExpression(
            expression="IF(FILL(blocks, 0) > 0 AND FILL(invocations, 0) == 0, 1, 0)",
            using_metrics={
                "blocks": own("IngestBlocks", "ingest"),
                "invocations": functions.matcher.metric_invocations(period=PERIOD, statistic="Sum"),
            },
            label="ingest publishes, matcher not invoked",
            period=PERIOD,
        )
        alarm(
            "MatcherNotInvoked",
            alarm_description="Ingest publishes blocks but the matcher is not invoked (mapping disabled or failing)",
            metric=silent,
            threshold=0,
            evaluation_periods=MATCHER_SILENT_PERIODS,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
        )
        oldest = delivery_queue.queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")
        alarm(
            "DeliveriesOldestMessage",
            alarm_description="Delivery messages wait on the queue: the deliver function is not taking them",
            metric=oldest,
            threshold=DELIVERY_MESSAGE_MAX_AGE_SECONDS,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

        dlq_depth = delivery_queue.dead_letters.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        alarm(
            "DeliveriesDeadLetters",
            alarm_description="Delivery messages the deliver function could not process are parked in the DLQ",
            metric=dlq_depth,
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

        def deliveries(name: str) -> cw.Metric:
            return cw.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map={"service": "blockhook-deliver"},
                statistic="Sum",
                period=Duration.hours(1),
            )

        failure_rate = cw.MathExpression(
            expression=f"IF((delivered + failed) >= {MIN_DELIVERY_OUTCOMES}, failed / (delivered + failed), 0)",
            using_metrics={"delivered": deliveries("DeliveriesDelivered"), "failed": deliveries("DeliveriesFailed")},
            label="delivery failure rate",
            period=Duration.hours(1),
        )
        alarm(
            "DeliveryFailureRate",
            alarm_description="Too many deliveries ran out of attempts (receivers down or refusing)",
            metric=failure_rate,
            threshold=DELIVERY_FAILURE_RATE,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )

        for name, function in functions.all.items():
            alarm(
                f"{name.capitalize()}Errors",
                alarm_description=f"The {name} function raised errors",
                metric=function.metric_errors(period=PERIOD, statistic="Sum"),
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=None)
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Ingest lag (blocks)", left=widgets_lag, width=12),
            cw.GraphWidget(title="Matcher offset lag (records)", left=[offset_lag], right=[failed_records], width=12),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Delivery outcomes",
                left=[deliveries("DeliveriesDelivered"), deliveries("DeliveriesFailed")],
                right=[failure_rate],
                width=12,
            ),
            cw.GraphWidget(title="Deliveries DLQ depth", left=[dlq_depth], width=12),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Function errors",
                left=[f.metric_errors(period=PERIOD, statistic="Sum", label=n) for n, f in functions.all.items()],
                width=12,
            ),
            cw.GraphWidget(
                title="Function duration p99",
                left=[f.metric_duration(period=PERIOD, statistic="p99", label=n) for n, f in functions.all.items()],
                width=12,
            ),
        )
        self.dashboard.add_widgets(cw.AlarmStatusWidget(alarms=list(self.alarms.values()), width=24))
