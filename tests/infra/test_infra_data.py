"""DynamoDB tables and the deliveries queue in the synthesised template."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from blockhook.store import delivery_stats, models

TABLES = {
    # env var: (partition key, sort key or None)
    "BLOCKHOOK_MONITORS_TABLE": (("tenant_id", "S"), ("monitor_id", "S")),
    "BLOCKHOOK_MONITOR_ADDRESSES_TABLE": (("monitor_id", "S"), ("address", "S")),
    "BLOCKHOOK_ADDRESS_INDEX_TABLE": (("address", "S"), ("monitor_id", "S")),
    "BLOCKHOOK_STATE_TABLE": (("key", "S"), None),
    "BLOCKHOOK_DELIVERIES_TABLE": (("delivery_id", "S"), None),
    "BLOCKHOOK_MATCHES_TABLE": (("block_key", "S"), ("match_key", "S")),
}

# Which table each PynamoDB model lives in (the models read the same variables).
MODEL_TABLES = {
    models.MonitorModel: "BLOCKHOOK_MONITORS_TABLE",
    models.MonitorAddressModel: "BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
    models.AddressIndexModel: "BLOCKHOOK_ADDRESS_INDEX_TABLE",
    models.ChainStateModel: "BLOCKHOOK_STATE_TABLE",
    models.VersionModel: "BLOCKHOOK_STATE_TABLE",
    models.DeliveryModel: "BLOCKHOOK_DELIVERIES_TABLE",
    models.MatcherProgressModel: "BLOCKHOOK_STATE_TABLE",
    models.MatchModel: "BLOCKHOOK_MATCHES_TABLE",
}


@pytest.fixture(scope="session")
def table_by_env(functions: dict, resources: dict) -> dict[str, dict]:
    """env var -> the table resource its value refers to (through the api function's environment)."""
    env = functions["api"][1]["Environment"]["Variables"]
    tables = {}
    for variable in TABLES:
        ref = env[variable]["Ref"]
        assert resources[ref]["Type"] == "AWS::DynamoDB::Table", variable
        tables[variable] = resources[ref]
    return tables


def key_schema(partition, sort) -> list[dict]:
    keys = [{"AttributeName": partition[0], "KeyType": "HASH"}]
    if sort:
        keys.append({"AttributeName": sort[0], "KeyType": "RANGE"})
    return keys


def test_seven_tables(template: Template) -> None:
    # The six of TABLES, and the API's Idempotency-Key records (test_infra_api_limits.py).
    template.resource_count_is("AWS::DynamoDB::Table", 7)


@pytest.mark.parametrize("variable", sorted(TABLES))
def test_table_keys_billing_pitr_retention(template: Template, table_by_env: dict, variable: str) -> None:
    partition, sort = TABLES[variable]
    table = table_by_env[variable]
    props = table["Properties"]
    assert props["KeySchema"] == key_schema(partition, sort)
    definitions = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert definitions[partition[0]] == partition[1]
    if sort:
        assert definitions[sort[0]] == sort[1]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_deliveries_ttl_and_by_monitor_indexes(table_by_env: dict) -> None:
    from blockhook.store.models import DeliveryModel

    props = table_by_env["BLOCKHOOK_DELIVERIES_TABLE"]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    indexes = {index["IndexName"]: index for index in props["GlobalSecondaryIndexes"]}
    assert indexes["by_monitor"]["KeySchema"] == key_schema(("monitor_id", "S"), ("created_at", "N"))
    # What reconcile reads: a monitor's deliveries of one block number.
    assert indexes["by_monitor_block"]["KeySchema"] == key_schema(("monitor_id", "S"), ("block_number", "N"))
    for name in ("by_monitor", "by_monitor_block"):
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    definitions = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert (definitions["monitor_id"], definitions["created_at"], definitions["block_number"]) == ("S", "N", "N")
    # The indexes the code queries (and the local stack's tables are created with) are the deployed ones.
    assert set(indexes) == set(DeliveryModel._indexes)


def test_only_deliveries_matches_and_address_tombstones_expire(table_by_env: dict) -> None:
    expiring = {
        v: t["Properties"]["TimeToLiveSpecification"]
        for v, t in table_by_env.items()
        if "TimeToLiveSpecification" in t["Properties"]
    }
    assert sorted(expiring) == [
        "BLOCKHOOK_ADDRESS_INDEX_TABLE",
        "BLOCKHOOK_DELIVERIES_TABLE",
        "BLOCKHOOK_MATCHES_TABLE",
        "BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
    ]
    assert all(spec == {"AttributeName": "expires_at", "Enabled": True} for spec in expiring.values())


def test_delivery_stats_expire_and_stay_out_of_the_deliveries_indexes(table_by_env: dict) -> None:
    """The stats items share the deliveries table (its key), its TTL expires them, and they carry none
    of the attributes its indexes are keyed by (a delivery log reads by_monitor)."""
    props = table_by_env["BLOCKHOOK_DELIVERIES_TABLE"]["Properties"]
    schema = delivery_stats.DeliveryStatsModel._get_schema()
    assert {(k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]} == {
        (k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]
    }
    assert props["TimeToLiveSpecification"]["AttributeName"] == delivery_stats.DeliveryStatsModel.expires_at.attr_name
    index_keys = {key["AttributeName"] for index in props["GlobalSecondaryIndexes"] for key in index["KeySchema"]}
    stored = {attribute.attr_name for attribute in delivery_stats.DeliveryStatsModel.get_attributes().values()}
    assert index_keys and not index_keys & stored


def test_matches_pending_indexes_are_sparse_on_what_the_match_waits_for(table_by_env: dict) -> None:
    props = table_by_env["BLOCKHOOK_MATCHES_TABLE"]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    by_chain, by_finality = props["GlobalSecondaryIndexes"]
    assert by_chain["IndexName"] == "pending_by_chain"
    assert by_chain["KeySchema"] == key_schema(("pending_chain", "N"), ("release_at", "N"))
    assert by_finality["IndexName"] == "pending_by_finality"
    assert by_finality["KeySchema"] == key_schema(("pending_finality", "S"), ("block_number", "N"))


@pytest.mark.parametrize("model", list(MODEL_TABLES), ids=lambda m: m.__name__)
def test_table_matches_pynamodb_model(table_by_env: dict, model) -> None:
    """The deployed key schema and indexes are the ones the code queries."""
    props = table_by_env[MODEL_TABLES[model]]["Properties"]
    schema = model._get_schema()
    deployed_keys = {(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]}
    assert deployed_keys == {(k["AttributeName"], k["KeyType"]) for k in schema["key_schema"]}
    deployed_types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    for definition in schema["attribute_definitions"]:
        assert deployed_types[definition["AttributeName"]] == definition["AttributeType"]
    deployed_indexes = {
        index["IndexName"]: {(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]}
        for index in props.get("GlobalSecondaryIndexes", [])
    }
    model_indexes = {
        index["index_name"]: {(k["AttributeName"], k["KeyType"]) for k in index["key_schema"]}
        for index in schema["global_secondary_indexes"]
    }
    assert deployed_indexes == model_indexes


def test_deliveries_queue_has_dead_letter_queue_sse_and_visibility(
    template: Template, resources: dict, by_type: dict, functions: dict
) -> None:
    template.resource_count_is("AWS::SQS::Queue", 2)
    queue_ref = functions["deliver"][1]["Environment"]["Variables"]["BLOCKHOOK_DELIVERY_QUEUE_URL"]["Ref"]
    queue = resources[queue_ref]["Properties"]
    dlq_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert resources[dlq_id]["Type"] == "AWS::SQS::Queue"
    assert dlq_id != queue_ref
    deliver_timeout = functions["deliver"][1]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * deliver_timeout
    for lid in (queue_ref, dlq_id):
        assert resources[lid]["Properties"]["SqsManagedSseEnabled"] is True


def test_queues_enforce_ssl(template: Template, by_type: dict) -> None:
    deny_insecure = Match.object_like(
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        }
    )
    template.resource_properties_count_is("AWS::SQS::QueuePolicy", deny_insecure, 2)
    covered = {
        queue["Ref"]
        for policy in by_type["AWS::SQS::QueuePolicy"].values()
        for queue in policy["Properties"]["Queues"]
    }
    assert covered == set(by_type["AWS::SQS::Queue"])
