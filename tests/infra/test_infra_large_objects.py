"""The bucket of values too large for a Kafka message or a DynamoDB item, and who may do what in it."""

from __future__ import annotations

import json

import pytest

from blockhook.store.blobs import bucket_name
from infra.blockhook_infra.large_objects import BUCKET_ENV, CLAIM_CHECK_RETENTION_DAYS


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="session")
def bucket(by_type: dict, functions: dict) -> tuple[str, dict]:
    env = functions["ingest"][1]["Environment"]["Variables"]
    lid = env[BUCKET_ENV]["Ref"]
    return lid, by_type["AWS::S3::Bucket"][lid]


def test_the_variable_is_the_one_the_code_reads(monkeypatch) -> None:
    monkeypatch.setenv(BUCKET_ENV, "chosen")
    assert bucket_name() == "chosen"


def test_private_encrypted_tls_only_and_kept_with_the_tables(bucket, by_type: dict) -> None:
    lid, resource = bucket
    props = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (policy,) = [p for p in by_type["AWS::S3::BucketPolicy"].values() if p["Properties"]["Bucket"] == {"Ref": lid}]
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_claim_checks_expire_after_the_topic_let_go_of_them_and_the_rest_tier_down(bucket) -> None:
    _, resource = bucket
    rules = {rule["Id"]: rule for rule in resource["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {"claim-checks", "matches-tiering", "deliveries-tiering"}
    claim_checks = rules["claim-checks"]
    assert claim_checks["Prefix"] == "events/" and claim_checks["Status"] == "Enabled"
    assert claim_checks["ExpirationInDays"] == CLAIM_CHECK_RETENTION_DAYS > 7  # MSK Serverless keeps 7 days
    for prefix in ("matches", "deliveries"):
        rule = rules[f"{prefix}-tiering"]
        assert rule["Prefix"] == f"{prefix}/"
        # A failed delivery stays replayable without end: what it refers to must not expire.
        assert "ExpirationInDays" not in rule
        assert rule["Transitions"] == [{"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 0}]
    assert all(rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1} for rule in rules.values())


def grants(statements: list[dict], bucket_lid: str) -> set[tuple[str, str]]:
    """(action, prefix) of every statement on the bucket's objects."""
    found = set()
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            text = json.dumps(resource)
            if bucket_lid not in text:
                continue
            assert statement["Effect"] == "Allow"
            joined = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else []
            prefix = joined[-1] if joined and isinstance(joined[-1], str) else text
            for action in as_list(statement["Action"]):
                found.add((action, prefix))
    return found


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ingest", {("s3:PutObject", "/events/*")}),
        ("matcher", {("s3:GetObject", "/events/*"), ("s3:GetObject", "/matches/*"), ("s3:PutObject", "/matches/*"),
                     ("s3:PutObject", "/deliveries/*")}),
        ("deliver", {("s3:GetObject", "/deliveries/*")}),
        ("api", {("s3:GetObject", "/deliveries/*")}),
    ],
)  # fmt: skip
def test_each_function_may_do_only_what_it_needs_under_its_prefixes(
    name: str, expected: set, bucket, statements_of, functions: dict
) -> None:
    lid, _ = bucket
    assert grants(statements_of(name), lid) == expected
    variables = functions[name][1]["Environment"]["Variables"]
    if expected:
        assert variables[BUCKET_ENV] == {"Ref": lid}
    else:
        assert BUCKET_ENV not in variables
