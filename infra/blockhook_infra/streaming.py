"""Kafka: a VPC and an MSK Serverless cluster (IAM auth), and its bootstrap brokers looked up at deploy time."""

from __future__ import annotations

from aws_cdk import ArnFormat, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct

# MSK's port for SASL/IAM clients.
KAFKA_IAM_PORT = 9098
TOPIC = "blocks"
CONSUMER_GROUP = "blockhook-matcher"


class Streaming(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        # Two AZs because MSK Serverless wants subnets in at least two. Private subnets egress through
        # one NAT gateway: ingest must reach public RPC nodes, and the matcher's MSK event source
        # mapping (which runs in these subnets) must reach the Lambda and STS endpoints. One NAT, not
        # one per AZ: an AZ outage delays blocks, it loses none (the checkpoint only moves on success).
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
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
            self, "ClusterSecurityGroup", vpc=self.vpc, description="blockhook MSK Serverless cluster"
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

        self.cluster = msk.CfnServerlessCluster(
            self,
            "Cluster",
            cluster_name=f"{Stack.of(self).stack_name}-kafka",
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(
                    iam=msk.CfnServerlessCluster.IamProperty(enabled=True)
                )
            ),
            vpc_configs=[
                msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=self.vpc.select_subnets(
                        subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                    ).subnet_ids,
                    security_groups=[self.cluster_security_group.security_group_id],
                )
            ],
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
