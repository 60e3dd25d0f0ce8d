"""Topic `blocks`, created by a Lambda-backed custom resource: MSK (serverless or provisioned) has no topic resource."""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from .paths import ASSET_EXCLUDES, REPO_ROOT
from .streaming import KAFKA_IAM_PORT, TOPIC, Streaming

# Each chain's blocks go to one partition (key = chain id); more partitions let more chains be matched
# in parallel. Fixed once created: adding partitions would move chains and break their order.
TOPIC_PARTITIONS = 3


class Topics(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        streaming: Streaming,
        layers: list[lambda_.ILayerVersion],
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
    ) -> None:
        super().__init__(scope, construct_id)

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=streaming.vpc, description="blockhook topic provider"
        )
        streaming.cluster_security_group.add_ingress_rule(
            self.security_group, ec2.Port.tcp(KAFKA_IAM_PORT), "topic provider creates topics"
        )
        self.function = lambda_.Function(
            self,
            "OnEvent",
            runtime=runtime,
            architecture=architecture,
            handler="index.on_event",
            code=lambda_.Code.from_asset(str(REPO_ROOT / "infra" / "topic_provider"), exclude=ASSET_EXCLUDES),
            layers=layers,
            timeout=Duration.minutes(2),
            memory_size=256,
            vpc=streaming.vpc,
            vpc_subnets=streaming.private_subnets,
            security_groups=[self.security_group],
            log_group=logs.LogGroup(
                self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
            ),
            description="blockhook: creates Kafka topics on the MSK cluster",
        )
        # Least privilege: connect, see the cluster, create and describe this one topic. No AlterTopic,
        # no DeleteTopic: the resource never changes or deletes a topic.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaClusterAdmin",
                actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
                resources=[streaming.cluster_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="KafkaTopicCreate",
                actions=["kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"],
                resources=[streaming.topic_arn(TOPIC)],
            )
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=logs.LogGroup(
                self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
            ),
        )
        self.blocks = CustomResource(
            self,
            "Blocks",
            service_token=provider.service_token,
            resource_type="Custom::KafkaTopic",
            properties={
                "ClusterArn": streaming.cluster_arn,
                "BootstrapBrokers": streaming.bootstrap_brokers,
                "Topic": TOPIC,
                "Partitions": str(TOPIC_PARTITIONS),
            },
        )
