"""Context `kafka`: MSK Serverless by default, or a provisioned cluster of three brokers, and everything that
depends on the cluster (grants, bootstrap lookup, topic resource, the matcher's mapping) follows it."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from infra.blockhook_infra.options import KafkaOptions, OptionsContextError, kafka_options
from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack

REPO_ROOT = Path(__file__).resolve().parents[2]


def synth(tmp_path_factory, **context) -> BlockhookStack:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={
            **json.loads((REPO_ROOT / "cdk.json").read_text())["context"],
            "aws:cdk:disable-asset-staging": True,
            **context,
        },
    )
    return BlockhookStack(app, STACK_NAME)


@pytest.fixture(scope="module")
def provisioned_stack(tmp_path_factory) -> BlockhookStack:
    return synth(tmp_path_factory, kafka="provisioned")


@pytest.fixture(scope="module")
def provisioned(provisioned_stack: BlockhookStack) -> dict:
    return cdk.assertions.Template.from_stack(provisioned_stack).to_json()["Resources"]


def of_type(resources: dict, kind: str) -> dict[str, dict]:
    return {lid: res for lid, res in resources.items() if res["Type"] == kind}


def cluster_of(resources: dict) -> tuple[str, dict]:
    (lid, res), = of_type(resources, "AWS::MSK::Cluster").items()
    return lid, res["Properties"]


def role_of(resources: dict, service: str) -> str:
    for res in of_type(resources, "AWS::Lambda::Function").values():
        props = res["Properties"]
        if props.get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME") == f"blockhook-{service}":
            return props["Role"]["Fn::GetAtt"][0]
    raise AssertionError(f"no function {service}")


def kafka_grants(resources: dict, role: str) -> dict[str, list]:
    grants: dict[str, list] = {}
    for res in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role} not in res["Properties"]["Roles"]:
            continue
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resource = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                if action.startswith(("kafka-cluster:", "kafka:")):
                    grants.setdefault(action, []).extend(resource)
    return grants


# --- the option ---------------------------------------------------------------------------------------------


def test_default_is_serverless_and_provisioned_has_small_defaults() -> None:
    assert kafka_options(None) == kafka_options("") == kafka_options("serverless") == KafkaOptions()
    assert not KafkaOptions().provisioned
    assert kafka_options("provisioned") == KafkaOptions("provisioned", "kafka.t3.small", 100)
    assert kafka_options("provisioned", "kafka.m7g.large", "500") == KafkaOptions("provisioned", "kafka.m7g.large", 500)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Provisioned",), "`kafka` 'Provisioned'"),
        (("serverless", "kafka.t3.small"), "`kafka_broker_type`: only for `kafka` provisioned"),
        ((None, None, 200), "`kafka_broker_storage_gb`: only for `kafka` provisioned"),
        (("provisioned", "t3.small"), "`kafka_broker_type` 't3.small'"),
        (("provisioned", None, "lots"), "`kafka_broker_storage_gb` 'lots'"),
        (("provisioned", None, 0), "`kafka_broker_storage_gb` 0"),
        (("provisioned", None, 16385), "`kafka_broker_storage_gb` 16385"),
        (("provisioned", None, True), "`kafka_broker_storage_gb` True"),
    ],
)
def test_malformed_kafka_context_is_refused_with_the_key(args: tuple, message: str) -> None:
    with pytest.raises(OptionsContextError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kafka_options(*args)


def test_a_malformed_option_fails_the_synth(tmp_path_factory) -> None:
    with pytest.raises(OptionsContextError, match="`kafka` 'kraft'"):
        synth(tmp_path_factory, kafka="kraft")


# --- one cluster or the other -------------------------------------------------------------------------------


def test_default_has_the_serverless_cluster_alone(by_type: dict) -> None:
    assert len(by_type["AWS::MSK::ServerlessCluster"]) == 1
    assert "AWS::MSK::Cluster" not in by_type and "AWS::MSK::Configuration" not in by_type


def test_provisioned_has_no_serverless_cluster(provisioned: dict) -> None:
    assert not of_type(provisioned, "AWS::MSK::ServerlessCluster")
    assert len(of_type(provisioned, "AWS::MSK::Cluster")) == 1
    assert len(of_type(provisioned, "AWS::MSK::Configuration")) == 1


def test_provisioned_brokers_one_in_each_of_three_azs_private_subnets(provisioned: dict) -> None:
    _, props = cluster_of(provisioned)
    assert props["NumberOfBrokerNodes"] == 3
    group = props["BrokerNodeGroupInfo"]
    assert group["InstanceType"] == "kafka.t3.small"
    assert group["StorageInfo"] == {"EBSStorageInfo": {"VolumeSize": 100}}
    subnets = of_type(provisioned, "AWS::EC2::Subnet")
    private = [{"Ref": lid} for lid, res in subnets.items() if res["Properties"]["MapPublicIpOnLaunch"] is False]
    assert sorted(map(json.dumps, group["ClientSubnets"])) == sorted(map(json.dumps, private))
    zones = {json.dumps(subnets[s["Ref"]]["Properties"]["AvailabilityZone"]) for s in group["ClientSubnets"]}
    assert len(zones) == 3
    # Still one NAT gateway: the third AZ's private subnet routes through it too.
    assert len(of_type(provisioned, "AWS::EC2::NatGateway")) == 1


def test_provisioned_cluster_is_iam_over_tls_only(provisioned: dict) -> None:
    _, props = cluster_of(provisioned)
    assert props["ClientAuthentication"] == {"Sasl": {"Iam": {"Enabled": True}}, "Unauthenticated": {"Enabled": False}}
    assert props["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    (group,) = props["BrokerNodeGroupInfo"]["SecurityGroups"]
    sg = provisioned[group["Fn::GetAtt"][0]]["Properties"]
    # The same group as the serverless cluster's: it admits itself (the mapping), ingest and the topic provider
    # on 9098 only.
    ingress = [
        res["Properties"] for res in of_type(provisioned, "AWS::EC2::SecurityGroupIngress").values()
        if res["Properties"]["GroupId"] == group
    ]
    assert len(ingress) == 3 and {(i["FromPort"], i["ToPort"]) for i in ingress} == {(9098, 9098)}
    assert "provisioned" in sg["GroupDescription"]
    assert props["LoggingInfo"]["BrokerLogs"]["CloudWatchLogs"]["Enabled"] is True


def test_replication_3_min_insync_2_in_the_clusters_configuration(provisioned: dict) -> None:
    (config_id, config), = of_type(provisioned, "AWS::MSK::Configuration").items()
    props = config["Properties"]
    settings = dict(line.split("=", 1) for line in props["ServerProperties"].splitlines())
    assert settings["default.replication.factor"] == "3"
    assert settings["min.insync.replicas"] == "2"
    assert settings["auto.create.topics.enable"] == "false"
    assert settings["unclean.leader.election.enable"] == "false"
    _, cluster = cluster_of(provisioned)
    assert props["KafkaVersionsList"] == [cluster["KafkaVersion"]]
    assert cluster["ConfigurationInfo"] == {
        "Arn": {"Fn::GetAtt": [config_id, "Arn"]},
        "Revision": {"Fn::GetAtt": [config_id, "LatestRevision.Revision"]},
    }


def test_broker_type_and_storage_come_from_context(tmp_path_factory) -> None:
    stack = synth(tmp_path_factory, kafka="provisioned", kafka_broker_type="kafka.m7g.large",
                  kafka_broker_storage_gb="500")  # fmt: skip
    _, props = cluster_of(cdk.assertions.Template.from_stack(stack).to_json()["Resources"])
    assert props["BrokerNodeGroupInfo"]["InstanceType"] == "kafka.m7g.large"
    assert props["BrokerNodeGroupInfo"]["StorageInfo"] == {"EBSStorageInfo": {"VolumeSize": 500}}


# --- what depends on the cluster follows it -------------------------------------------------------------------


def test_grants_name_the_provisioned_clusters_arns(provisioned: dict) -> None:
    lid, _ = cluster_of(provisioned)
    cluster = {"Fn::GetAtt": [lid, "Arn"]}
    split = {"Fn::Split": ["/", cluster]}
    name_uuid = [{"Fn::Select": [1, split]}, {"Fn::Select": [2, split]}]
    ingest = kafka_grants(provisioned, role_of(provisioned, "ingest"))
    assert ingest["kafka-cluster:Connect"] == [cluster]
    (topic,) = ingest["kafka-cluster:WriteData"]
    assert topic["Fn::Join"][1][-2].endswith(":topic/")
    assert topic["Fn::Join"][1][-1] == {"Fn::Join": ["/", [*name_uuid, "blocks"]]}
    matcher = kafka_grants(provisioned, role_of(provisioned, "matcher"))
    for action in ("kafka-cluster:Connect", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"):
        assert matcher[action] and all(resource == cluster for resource in matcher[action]), action
    (group,) = matcher["kafka-cluster:AlterGroup"]
    assert group["Fn::Join"][1][-2].endswith(":group/")
    assert group["Fn::Join"][1][-1] == {"Fn::Join": ["/", [*name_uuid, "blockhook-matcher"]]}
    # No grant anywhere still names a serverless cluster.
    assert "ServerlessCluster" not in json.dumps(of_type(provisioned, "AWS::IAM::Policy"))


def test_topic_resource_and_bootstrap_lookup_use_the_provisioned_cluster(provisioned: dict) -> None:
    lid, _ = cluster_of(provisioned)
    cluster = {"Fn::GetAtt": [lid, "Arn"]}
    (topic,) = of_type(provisioned, "Custom::KafkaTopic").values()
    assert topic["Properties"]["ClusterArn"] == cluster
    assert topic["Properties"]["Partitions"] == "3"
    (lookup,) = [r for r in of_type(provisioned, "Custom::AWS").values() if "GetBootstrapBrokers" in json.dumps(r)]
    assert json.dumps(cluster) in json.dumps(lookup["Properties"]["Update"])
    topic_grants = [
        s for res in of_type(provisioned, "AWS::IAM::Policy").values()
        for s in res["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "KafkaTopicCreate"
    ]
    (statement,) = topic_grants
    assert statement["Resource"]["Fn::Join"][1][-1] == {"Fn::Join": ["/", [
        {"Fn::Select": [1, {"Fn::Split": ["/", cluster]}]}, {"Fn::Select": [2, {"Fn::Split": ["/", cluster]}]},
        "blocks"]]}  # fmt: skip


def test_matcher_mapping_reads_the_provisioned_cluster_as_before(provisioned: dict) -> None:
    lid, _ = cluster_of(provisioned)
    (mapping,) = [
        res["Properties"] for res in of_type(provisioned, "AWS::Lambda::EventSourceMapping").values()
        if res["Properties"].get("Topics") == ["blocks"]
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [lid, "Arn"]}
    assert mapping["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 3}
    assert mapping["MaximumRetryAttempts"] == -1 and mapping["MaximumRecordAgeInSeconds"] == -1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Destination" in mapping["DestinationConfig"]["OnFailure"]


def test_provisioned_variant_is_cdk_nag_clean(provisioned_stack: BlockhookStack) -> None:
    report = AwsSolutionsChecks().validate_scope(provisioned_stack)
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []
    assert report.success is True
