"""Least privilege and isolation in the synthesised template: the matcher outside the VPC, a write-only
on-failure bucket, KMS actions as used, deliver's concurrency capped without a reservation, the WAF's per-IP
limit above every tenant's rate, SQS retention, and deletion protection on the data tables."""

from __future__ import annotations

import json
import math

import pytest

from infra.blockhook_infra.api import WAF_RATE_LIMIT_FLOOR, waf_rate_limit_per_ip
from infra.blockhook_infra.options import OptionsContextError, deliver_max_concurrency
from infra.blockhook_infra.tenants import DEFAULT_TENANTS, STAGE_BURST_LIMIT, STAGE_RATE_LIMIT, Tenant


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def mapping_of(by_type: dict, function_lid: str) -> dict:
    (props,) = [
        m["Properties"]
        for m in by_type["AWS::Lambda::EventSourceMapping"].values()
        if m["Properties"]["FunctionName"] == {"Ref": function_lid}
    ]
    return props


# The matcher outside the VPC


def test_the_matcher_is_outside_the_vpc_and_ingest_inside(functions: dict, by_type: dict) -> None:
    assert "VpcConfig" not in functions["matcher"][1]
    assert functions["ingest"][1]["VpcConfig"]["SubnetIds"]
    # No security group is left for the matcher: the cluster's, ingest's and the topic provider's.
    descriptions = sorted(sg["Properties"]["GroupDescription"] for sg in by_type["AWS::EC2::SecurityGroup"].values())
    assert descriptions == ["blockhook MSK Serverless cluster", "blockhook ingest function", "blockhook topic provider"]


def test_the_matcher_mapping_still_reaches_the_cluster(functions: dict, by_type: dict, statements_of) -> None:
    """The mapping connects through the cluster's subnets and security group: MSK's own configuration, which
    lets the group in on itself; the role keeps AWS's MSK execution policy for the mapping's interfaces."""
    props = mapping_of(by_type, functions["matcher"][0])
    (cluster_id,) = by_type["AWS::MSK::ServerlessCluster"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    (cluster,) = by_type["AWS::MSK::ServerlessCluster"].values()
    (vpc_config,) = cluster["Properties"]["VpcConfigs"]
    (group,) = vpc_config["SecurityGroups"]
    group_id = group["Fn::GetAtt"][0]
    self_ingress = [
        rule["Properties"] for rule in by_type["AWS::EC2::SecurityGroupIngress"].values()
        if rule["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
        and rule["Properties"].get("SourceSecurityGroupId") == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]  # fmt: skip
    assert [(r["FromPort"], r["ToPort"]) for r in self_ingress] == [(9098, 9098)]
    role = functions["matcher"][1]["Role"]["Fn::GetAtt"][0]
    managed = json.dumps(by_type["AWS::IAM::Role"][role]["Properties"]["ManagedPolicyArns"])
    assert "AWSLambdaMSKExecutionRole" in managed and "AWSLambdaVPCAccessExecutionRole" not in managed


# The on-failure bucket: written, never read or deleted


def test_the_matcher_may_only_write_and_list_the_failed_batches_bucket(
    functions: dict, by_type: dict, statements_of
) -> None:
    destination = mapping_of(by_type, functions["matcher"][0])["DestinationConfig"]["OnFailure"]["Destination"]
    bucket_id = destination["Fn::GetAtt"][0]
    grants = sorted(
        (action, json.dumps(resource))
        for statement in statements_of("matcher")
        for resource in as_list(statement["Resource"])
        if bucket_id in json.dumps(resource)
        for action in as_list(statement["Action"])
    )
    assert grants == [
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": [bucket_id, "Arn"]})),
        ("s3:PutObject", json.dumps({"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]})),
    ]
    # Nobody else's role touches it either (operators read it with their own credentials).
    for name in ("api", "ingest", "deliver"):
        assert not any(bucket_id in json.dumps(s["Resource"]) for s in statements_of(name))


# KMS: the actions secret_box calls, nothing more


def test_kms_grants_are_the_calls_made(role_statements: dict, statements_of) -> None:
    kms_actions = {
        action for statement in statements_of("api") for action in as_list(statement["Action"]) if action.startswith("kms:")
    }
    assert kms_actions == {"kms:Encrypt", "kms:Decrypt"}
    for statements in role_statements.values():
        for statement in statements:
            for action in as_list(statement["Action"]):
                assert not action.startswith(("kms:ReEncrypt", "kms:GenerateDataKey")), statement


# deliver's concurrency: capped by the event source, nothing reserved


def test_deliver_concurrency_is_capped_by_its_queue_mapping(functions: dict, by_type: dict) -> None:
    props = mapping_of(by_type, functions["deliver"][0])
    assert props["ScalingConfig"] == {"MaximumConcurrency": 20}
    for function in by_type["AWS::Lambda::Function"].values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]


@pytest.mark.parametrize(("raw", "expected"), [(None, 20), ("", 20), (5, 5), ("50", 50), (2, 2), (1000, 1000)])
def test_deliver_max_concurrency_context(raw, expected: int) -> None:
    assert deliver_max_concurrency(raw) == expected


@pytest.mark.parametrize("raw", [1, 1001, "many", 2.5, True, [], "-3"])
def test_deliver_max_concurrency_context_refuses_what_sqs_would(raw) -> None:
    with pytest.raises(OptionsContextError, match="deliver_max_concurrency"):
        deliver_max_concurrency(raw)


# The WAF's per-IP limit, above a tenant at its full rate


@pytest.mark.parametrize(
    "tenants",
    [
        DEFAULT_TENANTS,
        (Tenant("default"), Tenant("fast", rate_limit=200, burst=400), Tenant("slow", rate_limit=1, burst=2)),
        (Tenant("max", rate_limit=STAGE_RATE_LIMIT, burst=STAGE_BURST_LIMIT),),
        (Tenant("tiny", rate_limit=1, burst=1),),
    ],
    ids=["default", "mixed", "stage-ceiling", "tiny"],
)
def test_waf_limit_never_blocks_a_tenant_at_its_full_rate(tenants) -> None:
    limit = waf_rate_limit_per_ip(tenants)
    for tenant in tenants:
        # WAF counts per 5 minutes: the tenant's steady rate all along, plus its burst, must stay under.
        assert limit > tenant.rate_limit * 300 + tenant.burst
    assert limit >= WAF_RATE_LIMIT_FLOOR
    assert limit <= 2_000_000_000  # WAF's own maximum


def test_waf_limit_numbers() -> None:
    assert waf_rate_limit_per_ip(DEFAULT_TENANTS) == math.ceil((50 * 300 + 100) * 1.1) == 16610
    assert waf_rate_limit_per_ip((Tenant("tiny", rate_limit=1, burst=1),)) == WAF_RATE_LIMIT_FLOOR


# SQS retention and DynamoDB deletion protection


def test_queue_and_dead_letter_retention_are_explicit(by_type: dict) -> None:
    queues = by_type["AWS::SQS::Queue"].values()
    (main,) = [q["Properties"] for q in queues if "RedrivePolicy" in q["Properties"]]
    (dlq,) = [q["Properties"] for q in queues if "RedrivePolicy" not in q["Properties"]]
    assert main["MessageRetentionPeriod"] == 7 * 86400
    assert dlq["MessageRetentionPeriod"] == 14 * 86400
    # A message's age on the DLQ counts from its first enqueue: the DLQ must keep it longer.
    assert dlq["MessageRetentionPeriod"] > main["MessageRetentionPeriod"]


def test_data_tables_are_deletion_protected_and_idempotency_is_not(by_type: dict, functions: dict) -> None:
    env = functions["api"][1]["Environment"]["Variables"]
    tables = {
        name.removeprefix("BLOCKHOOK_").removesuffix("_TABLE"): value["Ref"]
        for name, value in env.items()
        if name.endswith("_TABLE")
    }
    assert set(tables) == {
        "MONITORS", "MONITOR_ADDRESSES", "ADDRESS_INDEX", "STATE", "DELIVERIES", "MATCHES", "IDEMPOTENCY"
    }
    for role, lid in tables.items():
        table = by_type["AWS::DynamoDB::Table"][lid]
        if role == "IDEMPOTENCY":
            assert "DeletionProtectionEnabled" not in table["Properties"] and table["DeletionPolicy"] == "Delete"
        else:
            assert table["Properties"]["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
