"""Schedule (ingest), Kafka event source (matcher) and SQS event source (deliver) in the template."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mappings(by_type: dict, functions: dict) -> dict[str, dict]:
    """Event source mappings by the function name they feed."""
    names = {lid: name for name, (lid, _) in functions.items()}
    found: dict[str, dict] = {}
    for res in by_type["AWS::Lambda::EventSourceMapping"].values():
        name = names[res["Properties"]["FunctionName"]["Ref"]]
        assert name not in found, f"{name} has two event source mappings"
        found[name] = res["Properties"]
    return found


def test_only_matcher_and_deliver_have_mappings(mappings: dict) -> None:
    assert set(mappings) == {"matcher", "deliver"}


def test_matcher_reads_blocks_topic_from_msk(mappings: dict, by_type: dict) -> None:
    (cluster,) = by_type["AWS::MSK::ServerlessCluster"]
    props = mappings["matcher"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [cluster, "Arn"]}
    assert props["Topics"] == ["blocks"]
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BatchSize"] == 100
    assert props["AmazonManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": "blockhook-matcher"}


def test_deliver_consumes_deliveries_queue(mappings: dict, functions: dict) -> None:
    queue = functions["deliver"][1]["Environment"]["Variables"]["BLOCKHOOK_DELIVERY_QUEUE_URL"]["Ref"]
    props = mappings["deliver"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_ingest_runs_every_minute_without_retries(by_type: dict, functions: dict) -> None:
    ingest, _ = functions["ingest"]
    (rule,) = by_type["AWS::Events::Rule"].values()
    props = rule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props.get("State", "ENABLED") == "ENABLED"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [ingest, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0
    permissions = [
        p["Properties"]
        for p in by_type["AWS::Lambda::Permission"].values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert [p["FunctionName"] for p in permissions] == [{"Fn::GetAtt": [ingest, "Arn"]}]


def test_throttled_ticks_are_dropped_not_queued(by_type: dict, functions: dict) -> None:
    ingest, _ = functions["ingest"]
    (config,) = by_type["AWS::Lambda::EventInvokeConfig"].values()
    props = config["Properties"]
    assert props["FunctionName"] == {"Ref": ingest}
    assert props["MaximumRetryAttempts"] == 0
    assert props["MaximumEventAgeInSeconds"] == 60
