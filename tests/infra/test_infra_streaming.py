"""VPC, MSK Serverless and the bootstrap-broker lookup in the synthesised template."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template


@pytest.fixture(scope="session")
def cluster(by_type: dict) -> tuple[str, dict]:
    ((lid, res),) = by_type["AWS::MSK::ServerlessCluster"].items()
    return lid, res["Properties"]


def private_subnets(by_type: dict) -> set[str]:
    return {
        lid
        for lid, res in by_type["AWS::EC2::Subnet"].items()
        if res["Properties"]["MapPublicIpOnLaunch"] is False
    }


def test_vpc_two_azs_one_nat(template: Template, by_type: dict) -> None:
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = by_type["AWS::EC2::Subnet"]
    assert len(subnets) == 4
    assert len(private_subnets(by_type)) == 2
    azs = {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(azs) == 2
    # Every private subnet's default route goes through the NAT gateway (ingest reaches public RPC nodes).
    nat_routes = [
        r["Properties"] for r in by_type["AWS::EC2::Route"].values() if "NatGatewayId" in r["Properties"]
    ]
    assert len(nat_routes) == 2
    assert all(r["DestinationCidrBlock"] == "0.0.0.0/0" for r in nat_routes)


def test_msk_serverless_iam_auth_only_in_private_subnets(cluster: tuple, by_type: dict) -> None:
    _, props = cluster
    assert props["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}}
    (vpc_config,) = props["VpcConfigs"]
    assert {s["Ref"] for s in vpc_config["SubnetIds"]} == private_subnets(by_type)
    assert len(vpc_config["SecurityGroups"]) == 1


def test_cluster_security_group_admits_itself_and_ingest_on_9098(
    cluster: tuple, by_type: dict, functions: dict
) -> None:
    cluster_sg = cluster[1]["VpcConfigs"][0]["SecurityGroups"][0]["Fn::GetAtt"][0]
    ingest_sgs = {g["Fn::GetAtt"][0] for g in functions["ingest"][1]["VpcConfig"]["SecurityGroupIds"]}
    sources = set()
    for rule in by_type["AWS::EC2::SecurityGroupIngress"].values():
        props = rule["Properties"]
        if props["GroupId"]["Fn::GetAtt"][0] == cluster_sg:
            assert (props["IpProtocol"], props["FromPort"], props["ToPort"]) == ("tcp", 9098, 9098)
            sources.add(props["SourceSecurityGroupId"]["Fn::GetAtt"][0])
    topic_provider_sgs = {
        g["Fn::GetAtt"][0]
        for res in by_type["AWS::Lambda::Function"].values()
        if res["Properties"].get("Handler") == "index.on_event"
        for g in res["Properties"]["VpcConfig"]["SecurityGroupIds"]
    }
    assert len(topic_provider_sgs) == 1
    assert sources == {cluster_sg} | ingest_sgs | topic_provider_sgs
    # Nothing else gets in: no inline ingress rules on the cluster's group.
    assert "SecurityGroupIngress" not in by_type["AWS::EC2::SecurityGroup"][cluster_sg]["Properties"]


def test_bootstrap_brokers_custom_resource(cluster: tuple, by_type: dict, role_statements: dict) -> None:
    cluster_id, _ = cluster
    (custom,) = by_type["Custom::AWS"].values()
    props = custom["Properties"]
    for phase in ("Create", "Update"):
        parts = props[phase]["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else "<" + json.dumps(p) + ">" for p in parts)
        assert '"service":"Kafka"' in text
        assert '"action":"GetBootstrapBrokers"' in text
        assert '"outputPaths":["BootstrapBrokerStringSaslIam"]' in text
        assert {"Fn::GetAtt": [cluster_id, "Arn"]} in parts
    assert props["InstallLatestAwsSdk"] is False
    # Its provider may call GetBootstrapBrokers on this cluster and nothing else.
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in by_type["AWS::IAM::Policy"].values()
        if p["Properties"]["PolicyName"].startswith("StreamingBootstrapBrokers")
    ]
    assert policies == [
        [
            {
                "Action": "kafka:GetBootstrapBrokers",
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [cluster_id, "Arn"]},
            }
        ]
    ]


def test_ingest_bootstrap_env_comes_from_custom_resource(functions: dict, by_type: dict) -> None:
    value = functions["ingest"][1]["Environment"]["Variables"]["BLOCKHOOK_KAFKA_BOOTSTRAP"]
    (custom_id,) = by_type["Custom::AWS"]
    assert value == {"Fn::GetAtt": [custom_id, "BootstrapBrokerStringSaslIam"]}


def test_dynamodb_and_s3_gateway_endpoints(template: Template) -> None:
    endpoints = [e["Properties"] for e in template.find_resources("AWS::EC2::VPCEndpoint").values()]
    assert all(e["VpcEndpointType"] == "Gateway" for e in endpoints)
    services = sorted(".dynamodb" if "dynamodb" in json.dumps(e["ServiceName"]) else json.dumps(e["ServiceName"]) for e in endpoints)
    assert len(services) == 2 and services[0] == ".dynamodb" and ".s3" in services[1]
