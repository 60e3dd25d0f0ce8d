"""Operations in the synthesised template: the matcher's error handling, the topic custom resource,
RPC URL secrets, the webhook secrets key, alarms and dashboard, and the optional WAF."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    """cdk.json's context, as `cdk synth` reads it."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def matcher_mapping(by_type: dict, functions: dict) -> dict:
    matcher, _ = functions["matcher"]
    (props,) = [
        m["Properties"]
        for m in by_type["AWS::Lambda::EventSourceMapping"].values()
        if m["Properties"]["FunctionName"] == {"Ref": matcher}
    ]
    return props


def synth(tmp_path_factory, **context) -> Template:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={**cdk_json_context(), "aws:cdk:disable-asset-staging": True, **context},
    )
    return Template.from_stack(BlockhookStack(app, STACK_NAME))


# (a) item 2: the matcher's MSK event source mapping


def test_matcher_mapping_is_provisioned_with_partial_batch_responses(by_type: dict, functions: dict) -> None:
    props = matcher_mapping(by_type, functions)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ProvisionedPollerConfig"] == {"MinimumPollers": 1, "MaximumPollers": 3}
    assert props["BisectBatchOnFunctionError"] is True
    # Never past a block the matcher could not process: retried forever, at any age.
    assert props["MaximumRetryAttempts"] == -1
    assert props["MaximumRecordAgeInSeconds"] == -1
    assert props["MetricsConfig"] == {"Metrics": ["EventCount", "ErrorCount", "KafkaMetrics"]}


def test_matcher_failed_batches_go_to_a_private_encrypted_bucket(
    by_type: dict, functions: dict, resources: dict, statements_of
) -> None:
    props = matcher_mapping(by_type, functions)
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    bucket_id = destination["Fn::GetAtt"][0]
    bucket = resources[bucket_id]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain"
    bucket_props = bucket["Properties"]
    assert bucket_props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
    }
    (encryption,) = bucket_props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = bucket_props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90
    # The matcher's role (the mapping's) may write there.
    actions = {
        action
        for statement in statements_of("matcher")
        if bucket_id in json.dumps(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    assert "s3:PutObject" in actions
    assert actions & {"s3:ListBucket", "s3:List*"}


def test_mapping_waits_for_the_topic(by_type: dict, functions: dict, resources: dict) -> None:
    (topic_id,) = by_type["Custom::KafkaTopic"]
    matcher, _ = functions["matcher"]
    (mapping_id,) = [
        lid for lid, m in by_type["AWS::Lambda::EventSourceMapping"].items()
        if m["Properties"]["FunctionName"] == {"Ref": matcher}
    ]
    assert topic_id in as_list(resources[mapping_id].get("DependsOn", []))
    ingest, _ = functions["ingest"]
    assert topic_id in as_list(resources[ingest].get("DependsOn", []))


# (b) item 1: topic `blocks` by a custom resource


@pytest.fixture(scope="session")
def topic_provider(by_type: dict) -> tuple[str, dict]:
    ((lid, res),) = [
        (lid, res) for lid, res in by_type["AWS::Lambda::Function"].items()
        if res["Properties"].get("Handler") == "index.on_event"
    ]
    return lid, res["Properties"]


def test_topic_custom_resource_creates_blocks(by_type: dict, topic_provider: tuple) -> None:
    (topic,) = by_type["Custom::KafkaTopic"].values()
    props = topic["Properties"]
    (cluster,) = by_type["AWS::MSK::ServerlessCluster"]
    (bootstrap,) = by_type["Custom::AWS"]
    assert props["Topic"] == "blocks"
    assert props["Partitions"] == "3"
    assert props["ClusterArn"] == {"Fn::GetAtt": [cluster, "Arn"]}
    assert props["BootstrapBrokers"] == {"Fn::GetAtt": [bootstrap, "BootstrapBrokerStringSaslIam"]}
    # Served by the provider framework, whose onEvent is our function.
    provider_fn = props["ServiceToken"]["Fn::GetAtt"][0]
    env = by_type["AWS::Lambda::Function"][provider_fn]["Properties"]["Environment"]["Variables"]
    assert env["USER_ON_EVENT_FUNCTION_ARN"] == {"Fn::GetAtt": [topic_provider[0], "Arn"]}


def test_topic_provider_runs_in_the_vpc_with_both_layers(topic_provider: tuple, functions: dict) -> None:
    _, props = topic_provider
    assert props["Runtime"] == "python3.12"
    assert props["VpcConfig"]["SubnetIds"] == functions["ingest"][1]["VpcConfig"]["SubnetIds"]
    assert props["Layers"] == functions["ingest"][1]["Layers"]


def test_topic_provider_kafka_grants_are_least_privilege(
    topic_provider: tuple, role_statements: dict, by_type: dict
) -> None:
    role = topic_provider[1]["Role"]["Fn::GetAtt"][0]
    (cluster,) = by_type["AWS::MSK::ServerlessCluster"]
    grants: dict[str, list] = {}
    for statement in role_statements[role]:
        for action in as_list(statement["Action"]):
            if action.startswith("kafka"):
                grants.setdefault(action, []).extend(as_list(statement["Resource"]))
    assert set(grants) == {
        "kafka-cluster:Connect", "kafka-cluster:DescribeCluster", "kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"
    }
    assert grants["kafka-cluster:Connect"] == [{"Fn::GetAtt": [cluster, "Arn"]}]
    for action in ("kafka-cluster:CreateTopic", "kafka-cluster:DescribeTopic"):
        (resource,) = grants[action]
        text = json.dumps(resource)
        assert ":topic/" in text and '"blocks"' in text


def test_topic_provider_handler_file_defines_on_event() -> None:
    from infra.blockhook_infra.paths import REPO_ROOT

    source = (REPO_ROOT / "infra" / "topic_provider" / "index.py").read_text()
    assert "def on_event(" in source


# (c) item 4: RPC URLs from Secrets Manager, never in the template


SECRET_CHAINS = [
    {"chain_id": 1, "name": "ethereum", "rpc_url_secret": "blockhook/rpc/ethereum", "confirmations": 12},
    {"chain_id": 8453, "name": "base", "rpc_url_secret": "blockhook/rpc/base"},
    {"chain_id": 10, "name": "optimism", "rpc_urls": ["https://optimism.example.com"]},
]


@pytest.fixture(scope="session")
def secret_template(tmp_path_factory) -> dict:
    return synth(tmp_path_factory, chains=SECRET_CHAINS).to_json()


def test_secret_chains_keep_urls_out_of_the_template(secret_template: dict) -> None:
    text = json.dumps(secret_template)
    assert "secret-at-runtime" not in text  # synth's stand-in for a secret never reaches the template
    envs = {
        res["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]: res["Properties"]["Environment"]["Variables"]
        for res in secret_template["Resources"].values()
        if res["Type"] == "AWS::Lambda::Function"
        and res["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "").startswith("blockhook-")
    }
    chains = json.loads(envs["blockhook-ingest"]["BLOCKHOOK_CHAINS"])["chains"]
    assert [c.get("rpc_url_secret") for c in chains] == ["blockhook/rpc/ethereum", "blockhook/rpc/base", None]
    assert [c.get("rpc_urls") for c in chains] == [None, None, ["https://optimism.example.com"]]


def test_secret_read_granted_on_exactly_those_secrets(secret_template: dict) -> None:
    resources = secret_template["Resources"]
    by_role: dict[str, list] = {}
    for res in resources.values():
        if res["Type"] != "AWS::IAM::Policy":
            continue
        for statement in res["Properties"]["PolicyDocument"]["Statement"]:
            if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
                assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
                for role in res["Properties"]["Roles"]:
                    by_role.setdefault(role["Ref"], []).extend(as_list(statement["Resource"]))
    services = {
        res["Properties"]["Role"]["Fn::GetAtt"][0]: res["Properties"]["Environment"]["Variables"].get("POWERTOOLS_SERVICE_NAME")
        for res in resources.values()
        if res["Type"] == "AWS::Lambda::Function" and "Environment" in res["Properties"]
    }
    assert {services[role] for role in by_role} == {"blockhook-api", "blockhook-ingest", "blockhook-matcher"}
    for arns in by_role.values():
        texts = sorted(json.dumps(arn) for arn in arns)
        assert len(texts) == 2
        assert ":secret:blockhook/rpc/base-??????" in texts[0]
        assert ":secret:blockhook/rpc/ethereum-??????" in texts[1]


def test_default_chains_grant_no_secret(role_statements: dict) -> None:
    for statements in role_statements.values():
        for statement in statements:
            assert not any(a.startswith("secretsmanager:") for a in as_list(statement["Action"]))


# (d) item 6: the webhook secrets key


def test_webhook_secrets_key_rotates_and_is_granted_to_api_and_deliver(
    by_type: dict, functions: dict, statements_of
) -> None:
    ((key_id, key),) = by_type["AWS::KMS::Key"].items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    for name in ("api", "ingest", "matcher", "deliver"):
        env = functions[name][1]["Environment"]["Variables"]
        actions = {
            action
            for statement in statements_of(name)
            if key_id in json.dumps(statement["Resource"])
            for action in as_list(statement["Action"])
        }
        if name == "api":  # seals secrets, and opens the saved answer of a repeated create
            assert env["BLOCKHOOK_SECRETS_KEY_ID"] == {"Fn::GetAtt": [key_id, "Arn"]}
            assert {"kms:Encrypt", "kms:Decrypt"} <= actions
        elif name == "deliver":  # opens them to sign, nothing more
            assert env["BLOCKHOOK_SECRETS_KEY_ID"] == {"Fn::GetAtt": [key_id, "Arn"]}
            assert actions == {"kms:Decrypt"}
        elif name == "matcher":  # builds the DeliveryService (which wants the id), never calls KMS
            assert env["BLOCKHOOK_SECRETS_KEY_ID"] == {"Fn::GetAtt": [key_id, "Arn"]}
            assert actions == set()
        else:
            assert "BLOCKHOOK_SECRETS_KEY_ID" not in env
            assert actions == set()


# (e) item 7: alarms and dashboard


@pytest.fixture(scope="session")
def alarms(by_type: dict) -> dict[str, dict]:
    return {lid: res["Properties"] for lid, res in by_type["AWS::CloudWatch::Alarm"].items()}


def alarm_on(alarms: dict, metric_name: str) -> list[dict]:
    found = [a for a in alarms.values() if a.get("MetricName") == metric_name]
    found += [
        a for a in alarms.values()
        for m in a.get("Metrics", [])
        if m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == metric_name
    ]
    return found


def test_ingest_lag_alarm_per_chain_treats_silence_as_breaching(alarms: dict) -> None:
    (alarm,) = alarm_on(alarms, "IngestLagBlocks")  # cdk.json lists one chain
    assert alarm["Namespace"] == "blockhook"
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"ChainId": "1", "service": "blockhook-ingest"}
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Threshold"] == 25  # 300 s of 12 s blocks


def test_a_stalled_chain_alarms_and_a_silent_node_breaches(alarms: dict) -> None:
    (alarm,) = alarm_on(alarms, "ChainHeadAgeSeconds")  # cdk.json lists one chain
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"ChainId": "1", "service": "blockhook-ingest"}
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Threshold"] == 120  # 10 blocks of 12 s


def test_matcher_offset_lag_dlq_and_function_error_alarms(alarms: dict, functions: dict, functions_by_lid=None) -> None:
    (offset,) = alarm_on(alarms, "OffsetLag")
    assert offset["Namespace"] == "AWS/Lambda"
    assert offset["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": functions["matcher"][0]}}]
    (dlq,) = alarm_on(alarms, "ApproximateNumberOfMessagesVisible")
    assert dlq["Threshold"] == 0
    errors = alarm_on(alarms, "Errors")
    assert sorted(a["Dimensions"][0]["Value"]["Ref"] for a in errors) == sorted(lid for lid, _ in functions.values())


def test_failed_matcher_records_alarm_while_they_keep_failing(alarms: dict) -> None:
    (alarm,) = alarm_on(alarms, "MatcherFailedRecords")
    assert alarm["Namespace"] == "blockhook" and alarm["Statistic"] == "Sum"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "blockhook-matcher"}]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["ComparisonOperator"]) == (
        0, 2, "GreaterThanThreshold"
    )


def test_a_matcher_not_invoked_while_ingest_publishes_alarms_and_silence_breaches(alarms: dict, functions: dict) -> None:
    (alarm,) = [a for a in alarms.values() if any("FILL(invocations, 0) == 0" in m.get("Expression", "")
                                                   for m in a.get("Metrics", []))]  # fmt: skip
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert stats["blocks"]["MetricName"] == "IngestBlocks"
    assert stats["invocations"]["MetricName"] == "Invocations"
    assert stats["invocations"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": functions["matcher"][0]}}]
    assert alarm["TreatMissingData"] == "breaching" and alarm["EvaluationPeriods"] == 3


def test_the_oldest_delivery_message_alarms(alarms: dict) -> None:
    (alarm,) = alarm_on(alarms, "ApproximateAgeOfOldestMessage")
    assert alarm["Threshold"] == 1800 and alarm["Statistic"] == "Maximum"


def test_delivery_failure_rate_alarm_uses_the_deliver_metrics(alarms: dict) -> None:
    (alarm,) = [a for a in alarms.values() if any("failed / (delivered + failed)" in m.get("Expression", "") for m in a.get("Metrics", []))]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"DeliveriesDelivered", "DeliveriesFailed"}
    assert alarm["Threshold"] == 0.1


def test_every_alarm_notifies_the_alarm_topic(alarms: dict, by_type: dict) -> None:
    (topic_id,) = by_type["AWS::SNS::Topic"]
    assert len(alarms) >= 8
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["OKActions"] == [{"Ref": topic_id}]


def test_dashboard_shows_lag_deliveries_and_errors(by_type: dict) -> None:
    (dashboard,) = by_type["AWS::CloudWatch::Dashboard"].values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("IngestLagBlocks", "OffsetLag", "DeliveriesFailed", "Errors", "ApproximateNumberOfMessagesVisible"):
        assert needle in body


def test_functions_emit_metrics_into_the_namespace(functions: dict) -> None:
    for _, props in functions.values():
        assert props["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "blockhook"


# (g) item 5: API throttling and the optional WAF


def test_stage_throttles_all_keys_together(by_type: dict) -> None:
    (stage,) = by_type["AWS::ApiGateway::Stage"].values()
    (setting,) = stage["Properties"]["MethodSettings"]
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (500, 1000)


def test_no_waf_by_default(template: Template) -> None:
    template.resource_count_is("AWS::WAFv2::WebACL", 0)


@pytest.fixture(scope="module")
def waf_template(tmp_path_factory) -> Template:
    return synth(tmp_path_factory, waf="true")


def test_waf_flag_adds_an_acl_on_the_stage(waf_template: Template) -> None:
    resources = waf_template.to_json()["Resources"]
    ((acl_id, acl),) = [(lid, r) for lid, r in resources.items() if r["Type"] == "AWS::WAFv2::WebACL"]
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL"
    rules = {rule["Name"]: rule for rule in props["Rules"]}
    # Above the default tenant at its full rate (50/s for 5 minutes plus its burst of 100), with WAF's margin.
    assert rules["RatePerIp"]["Statement"]["RateBasedStatement"] == {"Limit": 16610, "AggregateKeyType": "IP"}
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    # Address lists exceed the rule set's 8 KB body limit: that rule only counts.
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    (association,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"]
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert "/stages/" in json.dumps(association["ResourceArn"])


def test_waf_refuses_a_body_over_the_function_limit_by_its_content_length(waf_template: Template) -> None:
    """Over 1 MB by the Content-Length header: WAF sees at most 64 KB of an API Gateway body, so the rule
    reads the header, and answers the contract's 413 itself."""
    from blockhook.api.routes import MAX_BODY_BYTES
    from infra.blockhook_infra.api import greater_than_patterns

    ((_, acl),) = waf_template.find_resources("AWS::WAFv2::WebACL").items()
    props = acl["Properties"]
    rules = {rule["Name"]: rule for rule in props["Rules"]}
    rule = rules["BodyTooLarge"]
    assert rule["Priority"] == min(r["Priority"] for r in props["Rules"])  # before anything else
    assert rule["Action"] == {
        "Block": {"CustomResponse": {"ResponseCode": 413, "CustomResponseBodyKey": "payload_too_large"}}
    }
    body = props["CustomResponseBodies"]["payload_too_large"]
    assert body["ContentType"] == "APPLICATION_JSON"
    assert json.loads(body["Content"]) == {
        "error": {"code": "payload_too_large", "message": f"request body over {MAX_BODY_BYTES} bytes", "details": []}
    }
    matches = [s["RegexMatchStatement"] for s in rule["Statement"]["OrStatement"]["Statements"]]
    assert [m["RegexString"] for m in matches] == greater_than_patterns(MAX_BODY_BYTES)
    for match in matches:
        assert match["FieldToMatch"] == {"SingleHeader": {"Name": "content-length"}}
        assert match["TextTransformations"] == [{"Priority": 0, "Type": "NONE"}]
    assert len(set(r["Priority"] for r in props["Rules"])) == len(props["Rules"])


def test_alarm_topic_takes_only_this_accounts_alarms(by_type: dict) -> None:
    (topic_id,) = by_type["AWS::SNS::Topic"]
    (policy,) = [p["Properties"] for p in by_type["AWS::SNS::TopicPolicy"].values()]
    assert policy["Topics"] == [{"Ref": topic_id}]
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (statement,) = allows  # no other principal may publish or subscribe through the resource policy
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": topic_id}
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = condition["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source_arn == [
        "arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":alarm:*"
    ]
    # And nothing reaches it over plain HTTP.
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# Every alarm: its metric, threshold, periods and what missing data means, and its runbook entry.

# name: (metric names, statistic, threshold, evaluation periods, missing data)
EXPECTED_ALARMS = {
    "IngestLagChain1": (["IngestLagBlocks"], "Maximum", 25, 3, "breaching"),
    "ChainStalled1": (["ChainHeadAgeSeconds"], "Minimum", 120, 2, "breaching"),
    "MatcherOffsetLag": (["OffsetLag"], "Maximum", 100, 3, "notBreaching"),
    "MatcherFailedRecords": (["MatcherFailedRecords"], "Sum", 0, 2, "notBreaching"),
    "MatcherNotInvoked": (["IngestBlocks", "Invocations"], "Sum", 0, 3, "breaching"),
    "DeliveriesOldestMessage": (["ApproximateAgeOfOldestMessage"], "Maximum", 1800, 1, "notBreaching"),
    "DeliveriesDeadLetters": (["ApproximateNumberOfMessagesVisible"], "Maximum", 0, 1, "notBreaching"),
    "DeliveryFailureRate": (["DeliveriesDelivered", "DeliveriesFailed"], "Sum", 0.1, 1, "notBreaching"),
    **{f"{name}Errors": (["Errors"], "Sum", 0, 1, "notBreaching") for name in ("Api", "Ingest", "Matcher", "Deliver")},
}


@pytest.fixture(scope="session")
def alarms_by_name(by_type: dict) -> dict[str, dict]:
    import re

    found = {}
    for lid, res in by_type["AWS::CloudWatch::Alarm"].items():
        match = re.fullmatch(r"Monitoring(\w+?)[0-9A-F]{8}", lid)
        assert match, lid
        found[match.group(1)] = res["Properties"]
    return found


def test_every_alarm_has_its_metric_threshold_periods_and_missing_data(alarms_by_name: dict) -> None:
    assert set(alarms_by_name) == set(EXPECTED_ALARMS)
    for name, (metrics, statistic, threshold, periods, missing) in EXPECTED_ALARMS.items():
        alarm = alarms_by_name[name]
        stats = [m["MetricStat"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
        if stats:  # a math expression over these metrics
            assert sorted(s["Metric"]["MetricName"] for s in stats) == metrics, name
            assert {s["Stat"] for s in stats} == {statistic}, name
        else:
            assert [alarm["MetricName"]] == metrics and alarm["Statistic"] == statistic, name
            assert alarm["Period"] == 300, name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (
            threshold, periods, missing
        ), name


def test_every_alarm_has_a_runbook_entry() -> None:
    """docs/deploy.md has a section per alarm (per function for <Function>Errors, per chain for the chain ones)
    saying what it means, what to check first and what to do."""
    text = (REPO_ROOT / "docs" / "deploy.md").read_text()
    runbook = text.split("## Alarms and runbook", 1)[1].split("\n## ", 1)[0]
    for name in ("IngestLagChain<id>", "ChainStalled<id>", "MatcherOffsetLag", "MatcherFailedRecords",
                 "MatcherNotInvoked", "DeliveriesOldestMessage", "DeliveriesDeadLetters", "DeliveryFailureRate",
                 "<Function>Errors"):  # fmt: skip
        section = runbook.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for part in ("**Means**", "**Check first**", "**Do**"):
            assert part in section, (name, part)
