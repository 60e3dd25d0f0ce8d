"""The four Lambda functions, their two layers, and each one's least-privilege grants."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .data import DataTables
from .delivery_queue import DeliveryQueue
from .large_objects import BUCKET_ENV, LargeObjects
from .paths import ASSET_EXCLUDES, deps_layer_dir, function_dir, shared_layer_dir
from .streaming import TOPIC, Streaming

RUNTIME = lambda_.Runtime.PYTHON_3_12
# The dependency layer is built for manylinux2014_x86_64 (Makefile: `make layers`).
ARCHITECTURE = lambda_.Architecture.X86_64
HANDLER = "handler.handler"
# powertools Metrics namespace of the custom metrics (IngestLagBlocks, DeliveryAttempts, ...).
METRICS_NAMESPACE = "blockhook"

# Ingest runs until this many seconds before its timeout, then returns: with a 75 s timeout it polls
# for about 60 s, so one invocation per minute (the schedule) keeps the chain covered back to back,
# and the margin leaves time to flush Kafka and move the checkpoint before Lambda kills it.
INGEST_STOP_MARGIN_SECONDS = 15


@dataclass(frozen=True)
class FunctionSpec:
    memory_mb: int
    timeout: Duration


SPECS = {
    # API Gateway's own integration timeout is 29 s: the function may not outlast it.
    "api": FunctionSpec(512, Duration.seconds(29)),
    "ingest": FunctionSpec(1024, Duration.seconds(75)),
    "matcher": FunctionSpec(1024, Duration.seconds(120)),
    # Each webhook call is cut at 10 s (CONTRACT section 4) and a batch holds up to 10
    # messages handled one after another: 120 s lets a batch of slow endpoints finish
    # rather than time out and send its delivered webhooks a second time.
    "deliver": FunctionSpec(512, Duration.seconds(120)),
}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataTables,
        delivery_queue: DeliveryQueue,
        streaming: Streaming,
        chains_json: str,
        large_objects: LargeObjects,
        rpc_secrets: list[str] = (),
        metrics_namespace: str = METRICS_NAMESPACE,
    ) -> None:
        super().__init__(scope, construct_id)
        # Custom metrics of a side-by-side deployment go to a namespace of its own, or its alarms would
        # count the other deployment's blocks and failures too.
        self.metrics_namespace = metrics_namespace
        self._data = data
        self._large_objects = large_objects
        self._queue = delivery_queue.queue
        self._streaming = streaming

        self.deps_layer = lambda_.LayerVersion(
            self,
            "DepsLayer",
            code=lambda_.Code.from_asset(str(deps_layer_dir()), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="blockhook runtime dependencies (requirements.txt)",
        )
        self.shared_layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=lambda_.Code.from_asset(str(shared_layer_dir()), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="blockhook shared domain package",
        )

        self.api = self._function(
            "api",
            # The API checks a monitor's chain_ids against the served chains and reports each one's lag,
            # and keeps the Idempotency-Key records of creates.
            environment={
                "BLOCKHOOK_AUTH_MODE": "apigateway",
                "BLOCKHOOK_CHAINS": chains_json,
                "BLOCKHOOK_IDEMPOTENCY_TABLE": data.idempotency.table_name,
                "BLOCKHOOK_SECRETS_KEY_ID": data.webhook_secrets_key.key_arn,
            },
        )
        self.ingest = self._function(
            "ingest",
            environment={
                "BLOCKHOOK_KAFKA_BOOTSTRAP": streaming.bootstrap_brokers,
                "BLOCKHOOK_KAFKA_AUTH": "iam",
                "BLOCKHOOK_KAFKA_TOPIC": TOPIC,
                "BLOCKHOOK_CHAINS": chains_json,
                "BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS": str(INGEST_STOP_MARGIN_SECONDS),
            },
            # One poller per chain at a time is a lease on the chain (store/leases.py), not reserved
            # concurrency: an account still at its default quota of 10 cannot reserve any.
            in_vpc=streaming.ingest_security_group,
        )
        self.matcher = self._function(
            "matcher",
            # The matcher holds matches for each chain's default confirmations. It records and queues
            # deliveries through the same DeliveryService as deliver, which is built with the webhook
            # secrets key id (blockhook.wiring); the matcher never seals or opens a secret, so it gets the
            # id but no KMS grant.
            environment={
                "BLOCKHOOK_CHAINS": chains_json,
                "BLOCKHOOK_SECRETS_KEY_ID": data.webhook_secrets_key.key_arn,
            },
            # Outside the VPC: its records come through the MSK event source mapping, which reaches the
            # cluster by itself. In AWS's words (Lambda developer guide, "Configuring your Amazon MSK
            # cluster and Amazon VPC network for Lambda"): "Your Lambda function resides in an AWS-managed
            # VPC owned by Lambda. Your Lambda event source mapping resides in another AWS-managed VPC
            # owned by Lambda, separate from the VPC that contains your function", and the mapping connects
            # to the cluster through the cluster's own subnets and security groups (streaming.py). So its
            # DynamoDB, SQS, S3 and KMS calls do not go through the VPC's one NAT gateway.
        )
        # BLOCKHOOK_RETRY_SCHEDULE unset: the production schedule.
        self.deliver = self._function(
            "deliver", environment={"BLOCKHOOK_SECRETS_KEY_ID": data.webhook_secrets_key.key_arn}
        )

        self._grant_data()
        self._grant_large_objects()
        self._grant_kafka()
        self._grant_rpc_secrets(rpc_secrets)

    @property
    def all(self) -> dict[str, lambda_.Function]:
        return {"api": self.api, "ingest": self.ingest, "matcher": self.matcher, "deliver": self.deliver}

    def _function(
        self,
        name: str,
        *,
        environment: dict[str, str] | None = None,
        in_vpc: ec2.ISecurityGroup | None = None,
    ) -> lambda_.Function:
        spec = SPECS[name]
        log_group = logs.LogGroup(
            self,
            f"{name.capitalize()}Logs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        vpc_options = (
            {
                "vpc": self._streaming.vpc,
                "vpc_subnets": self._streaming.private_subnets,
                "security_groups": [in_vpc],
            }
            if in_vpc is not None
            else {}
        )
        return lambda_.Function(
            self,
            name.capitalize(),
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(function_dir(name)), exclude=ASSET_EXCLUDES),
            layers=[self.deps_layer, self.shared_layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={**self._common_environment(name), **(environment or {})},
            description=f"blockhook {name}",
            **vpc_options,
        )

    def _common_environment(self, name: str) -> dict[str, str]:
        data = self._data
        return {
            "BLOCKHOOK_MODE": "cloud",
            "BLOCKHOOK_MONITORS_TABLE": data.monitors.table_name,
            "BLOCKHOOK_MONITOR_ADDRESSES_TABLE": data.monitor_addresses.table_name,
            "BLOCKHOOK_ADDRESS_INDEX_TABLE": data.address_index.table_name,
            "BLOCKHOOK_STATE_TABLE": data.state.table_name,
            "BLOCKHOOK_DELIVERIES_TABLE": data.deliveries.table_name,
            "BLOCKHOOK_MATCHES_TABLE": data.matches.table_name,
            "BLOCKHOOK_DELIVERY_QUEUE_URL": self._queue.queue_url,
            "POWERTOOLS_SERVICE_NAME": f"blockhook-{name}",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "POWERTOOLS_METRICS_NAMESPACE": self.metrics_namespace,
        }

    def _grant_data(self) -> None:
        data, queue = self._data, self._queue
        # api: the whole monitor model, the chain state it reports, the delivery log, replays and tests.
        for table in (
            data.monitors, data.monitor_addresses, data.address_index, data.state, data.deliveries, data.idempotency
        ):
            table.grant_read_write_data(self.api)
        queue.grant_send_messages(self.api)
        # ingest: its checkpoints and the active-backfills item (State); and the backfill jobs it runs,
        # which live on their monitor items: it reads the monitor (GetItem) and moves the job's progress
        # or fails it (UpdateItem). Nothing else on Monitors: no scan, no put, no delete.
        data.state.grant_read_write_data(self.ingest)
        self.ingest.add_to_role_policy(
            iam.PolicyStatement(
                sid="BackfillJobsOnMonitors",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[data.monitors.table_arn],
            )
        )
        # ingest, when a chain's node has another genesis: drops the matches still waiting on the old chain.
        self.ingest.add_to_role_policy(
            iam.PolicyStatement(
                sid="DropWaitingMatches",
                actions=["dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[
                    data.matches.table_arn,
                    f"{data.matches.table_arn}/index/pending_by_chain",
                    f"{data.matches.table_arn}/index/pending_by_finality",
                ],
            )
        )
        # matcher: reads monitors and addresses, writes deliveries and pending matches, queues deliveries;
        # records what a reconcile found on its job, on the monitor item (UpdateItem only).
        for table in (data.monitors, data.monitor_addresses, data.address_index):
            table.grant_read_data(self.matcher)
        data.monitors.grant(self.matcher, "dynamodb:UpdateItem")
        for table in (data.state, data.deliveries, data.matches):
            table.grant_read_write_data(self.matcher)
        queue.grant_send_messages(self.matcher)
        # deliver: records attempts, reads the monitor's URL and secret and updates its endpoint health
        # (UpdateItem only: it never creates or deletes a monitor), re-queues the next attempt
        # (consuming is granted by its SQS event source).
        data.deliveries.grant_read_write_data(self.deliver)
        data.monitors.grant_read_data(self.deliver)
        data.monitors.grant(self.deliver, "dynamodb:UpdateItem")
        queue.grant_send_messages(self.deliver)
        # Webhook secrets: the api seals new and rotated ones (and opens the answer of a repeated
        # create); deliver only opens them to sign.
        data.webhook_secrets_key.grant(self.api, "kms:Encrypt", "kms:Decrypt")  # secret_box calls no other
        data.webhook_secrets_key.grant_decrypt(self.deliver)

    def _grant_large_objects(self) -> None:
        """Values too large for a Kafka message or a DynamoDB item (large_objects.py): ingest writes the
        claim checks the matcher reads; the matcher writes and reads back its large match records and
        writes the large delivery bodies deliver posts and the api shows (GET .../deliveries/{id})."""
        large = self._large_objects
        for function in (self.ingest, self.matcher, self.deliver, self.api):
            function.add_environment(BUCKET_ENV, large.bucket.bucket_name)
        large.grant(self.ingest, ["s3:PutObject"], "events")
        large.grant(self.matcher, ["s3:GetObject"], "events")
        large.grant(self.matcher, ["s3:GetObject", "s3:PutObject"], "matches")
        large.grant(self.matcher, ["s3:PutObject"], "deliveries")
        large.grant(self.deliver, ["s3:GetObject"], "deliveries")
        large.grant(self.api, ["s3:GetObject"], "deliveries")

    def _grant_rpc_secrets(self, names: list[str]) -> None:
        """GetSecretValue on exactly the chains' RPC URL secrets, for the functions that load the chains."""
        if not names:
            return
        stack = Stack.of(self)
        arns = [
            name
            if name.startswith("arn:")
            # A name: the secret's ARN ends in a random 6-character suffix, matched by "-??????".
            else stack.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in names
        ]
        for function in (self.api, self.ingest, self.matcher):
            function.add_to_role_policy(
                iam.PolicyStatement(sid="ReadRpcUrlSecrets", actions=["secretsmanager:GetSecretValue"], resources=arns)
            )

    def _grant_kafka(self) -> None:
        streaming = self._streaming
        cluster, topic, group = streaming.cluster_arn, streaming.topic_arn(), streaming.group_arn()
        # ingest produces: connects and writes (the topic is created by the Topics custom resource, so
        # no CreateTopic). WriteDataIdempotently is needed as soon as the producer enables idempotence.
        self.ingest.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaClusterProduce",
                actions=[
                    "kafka-cluster:Connect",
                    "kafka-cluster:DescribeCluster",
                    "kafka-cluster:WriteDataIdempotently",
                ],
                resources=[cluster],
            )
        )
        self.ingest.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaTopicProduce",
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"],
                resources=[topic],
            )
        )
        # matcher: its role is what the MSK event source mapping consumes with. The mapping's network
        # interfaces in the cluster's subnets (ec2:CreateNetworkInterface and friends, which cannot be
        # scoped to resources) come with the AWSLambdaMSKExecutionRole managed policy that
        # ManagedKafkaEventSource attaches.
        self.matcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaClusterConsume",
                actions=[
                    "kafka-cluster:Connect",
                    "kafka-cluster:DescribeClusterDynamicConfiguration",
                    "kafka:DescribeClusterV2",
                    "kafka:GetBootstrapBrokers",
                ],
                resources=[cluster],
            )
        )
        self.matcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaTopicConsume",
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                resources=[topic],
            )
        )
        self.matcher.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaGroupConsume",
                actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                resources=[group],
            )
        )
