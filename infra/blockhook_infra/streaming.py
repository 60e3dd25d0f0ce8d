"""Kafka: a VPC and an MSK cluster (IAM auth), and its bootstrap brokers looked up at deploy time.

The cluster is MSK Serverless, or with context `kafka` = `provisioned` three brokers of their own (options.py):
the same IAM authentication over TLS on port 9098, the same ARN forms for the grants (cluster/NAME/UUID,
topic/NAME/UUID/<topic>, group/NAME/UUID/<group>), the same bootstrap lookup and topic resource, and
replication 3 with min.insync.replicas 2, so an acknowledged block is on two brokers in two AZs."""

from __future__ import annotations

from aws_cdk import ArnFormat, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct

from .options import KafkaOptions, kafka_options

# MSK's port for SASL/IAM clients.
KAFKA_IAM_PORT = 9098
TOPIC = "blocks"
CONSUMER_GROUP = "blockhook-matcher"
# A provisioned cluster: one broker in each of three AZs. Replication 3 and min.insync.replicas 2 keep
# every partition writable with acks=all while one broker is down (an AZ outage, or MSK patching a
# broker at a time); no topic made by a client's request, no leader elected from a stale replica;
# a week of retention, as MSK Serverless keeps by default.
PROVISIONED_AZS = 3
KAFKA_VERSION = "3.6.0"
PROVISIONED_SERVER_PROPERTIES = "\n".join(
    [
        "auto.create.topics.enable=false",
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "unclean.leader.election.enable=false",
        "log.retention.hours=168",
    ]
)


class Streaming(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, kafka: KafkaOptions | None = None) -> None:
        super().__init__(scope, construct_id)
        self.kafka = kafka or kafka_options(
            self.node.try_get_context("kafka"),
            self.node.try_get_context("kafka_broker_type"),
            self.node.try_get_context("kafka_broker_storage_gb"),
        )

        # Two AZs because MSK Serverless wants subnets in at least two; three for a provisioned cluster,
        # a broker in each (named explicitly: an environment-agnostic stack otherwise gets two). Private subnets egress through
        # one NAT gateway: ingest must reach public RPC nodes, and the matcher's MSK event source
        # mapping (which runs in these subnets) must reach the Lambda and STS endpoints. One NAT, not
        # one per AZ: an AZ outage delays blocks, it loses none (the checkpoint only moves on success).
        zones = (
            {"availability_zones": [Fn.select(i, Fn.get_azs()) for i in range(PROVISIONED_AZS)]}
            if self.kafka.provisioned
            else {"max_azs": 2}
        )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            **zones,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
        )
        # Rejected connections are what an operator needs to see when ingest cannot reach a node or the
        # cluster; a month is kept, like the functions' logs.
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self, "FlowLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
                )
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        # DynamoDB traffic of the in-VPC functions skips the NAT (a gateway endpoint costs nothing).
        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        # So does S3: the matcher's event source mapping writes failed batches there from these subnets.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

        # The cluster's security group. The MSK event source mapping uses the cluster's own subnets and
        # security groups, so the group must let itself in on the broker port.
        self.cluster_security_group = ec2.SecurityGroup(
            self,
            "ClusterSecurityGroup",
            vpc=self.vpc,
            description="blockhook MSK provisioned cluster" if self.kafka.provisioned else "blockhook MSK Serverless cluster",
        )
        self.cluster_security_group.add_ingress_rule(
            self.cluster_security_group,
            ec2.Port.tcp(KAFKA_IAM_PORT),
            "MSK event source mapping (uses the cluster's security group)",
        )
        # The in-VPC function's group: ingest produces to the cluster. (The matcher is not in the VPC:
        # its Kafka records come through the event source mapping, not a socket of its own.)
        self.ingest_security_group = ec2.SecurityGroup(
            self, "IngestSecurityGroup", vpc=self.vpc, description="blockhook ingest function"
        )
        self.cluster_security_group.add_ingress_rule(
            self.ingest_security_group, ec2.Port.tcp(KAFKA_IAM_PORT), "ingest produces blocks"
        )

        subnet_ids = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids
        self.cluster = (
            self._provisioned_cluster(subnet_ids) if self.kafka.provisioned else self._serverless_cluster(subnet_ids)
        )
        self.cluster_arn = self.cluster.attr_arn

        # The SASL/IAM bootstrap string is not a CloudFormation attribute of the cluster: ask MSK for it.
        self._bootstrap = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_update=cr.AwsSdkCall(  # on_update alone also runs on create
                service="Kafka",
                action="GetBootstrapBrokers",
                parameters={"ClusterArn": self.cluster_arn},
                physical_resource_id=cr.PhysicalResourceId.of(self.cluster_arn),
                output_paths=["BootstrapBrokerStringSaslIam"],
            ),
            policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.cluster_arn]),
            # Use the SDK that ships in the Node runtime: no download from npm at deploy time.
            install_latest_aws_sdk=False,
        )
        self.bootstrap_brokers = self._bootstrap.get_response_field("BootstrapBrokerStringSaslIam")

    def _serverless_cluster(self, subnet_ids: list[str]) -> msk.CfnServerlessCluster:
        return msk.CfnServerlessCluster(
            self,
            "Cluster",
            cluster_name=f"{Stack.of(self).stack_name}-kafka",
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(iam=msk.CfnServerlessCluster.IamProperty(enabled=True))
            ),
            vpc_configs=[
                msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=subnet_ids, security_groups=[self.cluster_security_group.security_group_id]
                )
            ],
        )

    def _provisioned_cluster(self, subnet_ids: list[str]) -> msk.CfnCluster:
        name = f"{Stack.of(self).stack_name}-kafka"
        self.configuration = msk.CfnConfiguration(
            self,
            "Configuration",
            name=name,
            description="blockhook: replication 3, min.insync.replicas 2, no auto-created topics",
            kafka_versions_list=[KAFKA_VERSION],
            server_properties=PROVISIONED_SERVER_PROPERTIES,
        )
        # Broker logs: what an operator reads when a broker misbehaves (MSK keeps none of its own).
        self.broker_logs = logs.LogGroup(
            self, "BrokerLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        return msk.CfnCluster(
            self,
            "ProvisionedCluster",
            cluster_name=name,
            kafka_version=KAFKA_VERSION,
            number_of_broker_nodes=PROVISIONED_AZS,
            broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                client_subnets=subnet_ids,
                instance_type=self.kafka.broker_type,
                security_groups=[self.cluster_security_group.security_group_id],
                storage_info=msk.CfnCluster.StorageInfoProperty(
                    ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(volume_size=self.kafka.broker_storage_gb)
                ),
            ),
            # IAM only, as on MSK Serverless: no unauthenticated, SCRAM or mTLS listener.
            client_authentication=msk.CfnCluster.ClientAuthenticationProperty(
                sasl=msk.CfnCluster.SaslProperty(iam=msk.CfnCluster.IamProperty(enabled=True)),
                unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=False),
            ),
            encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(client_broker="TLS", in_cluster=True)
            ),
            configuration_info=msk.CfnCluster.ConfigurationInfoProperty(
                arn=self.configuration.attr_arn, revision=self.configuration.attr_latest_revision_revision
            ),
            logging_info=msk.CfnCluster.LoggingInfoProperty(
                broker_logs=msk.CfnCluster.BrokerLogsProperty(
                    cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                        enabled=True, log_group=self.broker_logs.log_group_name
                    )
                )
            ),
        )

    def topic_arn(self, topic: str = TOPIC) -> str:
        return self._child_arn("topic", topic)

    def group_arn(self, group: str = CONSUMER_GROUP) -> str:
        return self._child_arn("group", group)

    def _child_arn(self, kind: str, name: str) -> str:
        # Cluster ARN: arn:<partition>:kafka:<region>:<account>:cluster/<NAME>/<UUID>.
        # Topic and group ARNs reuse NAME/UUID: ...:topic/<NAME>/<UUID>/<topic>, ...:group/<NAME>/<UUID>/<group>.
        parts = Fn.split("/", self.cluster_arn)
        return Stack.of(self).format_arn(
            service="kafka",
            resource=kind,
            resource_name=Fn.join("/", [Fn.select(1, parts), Fn.select(2, parts), name]),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
