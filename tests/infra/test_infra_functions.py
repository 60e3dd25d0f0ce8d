"""The four Lambda functions, their layers, environments and IAM grants in the synthesised template."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMES = ("api", "ingest", "matcher", "deliver")

COMMON_ENV = {
    "BLOCKHOOK_MONITORS_TABLE",
    "BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
    "BLOCKHOOK_ADDRESS_INDEX_TABLE",
    "BLOCKHOOK_STATE_TABLE",
    "BLOCKHOOK_DELIVERIES_TABLE",
    "BLOCKHOOK_MATCHES_TABLE",
    "BLOCKHOOK_DELIVERY_QUEUE_URL",
    "BLOCKHOOK_MODE",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
}
EXTRA_ENV = {
    # The bucket: a delivery's body kept in S3 is shown by GET .../deliveries/{id}. The tenant keys: a
    # rotation's new key acts as its tenant's first.
    "api": {
        "BLOCKHOOK_AUTH_MODE", "BLOCKHOOK_CHAINS", "BLOCKHOOK_IDEMPOTENCY_TABLE", "BLOCKHOOK_SECRETS_KEY_ID",
        "BLOCKHOOK_LARGE_OBJECTS_BUCKET", "BLOCKHOOK_TENANT_KEYS",
    },
    "ingest": {
        "BLOCKHOOK_KAFKA_BOOTSTRAP",
        "BLOCKHOOK_KAFKA_AUTH",
        "BLOCKHOOK_KAFKA_TOPIC",
        "BLOCKHOOK_CHAINS",
        "BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS",
        "BLOCKHOOK_LARGE_OBJECTS_BUCKET",  # test_infra_large_objects.py
    },
    # The key id only (DeliveryService is built with it); no KMS grant (test_infra_operations.py).
    "matcher": {"BLOCKHOOK_CHAINS", "BLOCKHOOK_SECRETS_KEY_ID", "BLOCKHOOK_LARGE_OBJECTS_BUCKET"},
    "deliver": {"BLOCKHOOK_SECRETS_KEY_ID", "BLOCKHOOK_LARGE_OBJECTS_BUCKET"},
}
SIZES = {"api": (512, 29), "ingest": (1024, 75), "matcher": (1024, 120), "deliver": (512, 120)}

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
TABLE_ENV = {
    "monitors": "BLOCKHOOK_MONITORS_TABLE",
    "monitor_addresses": "BLOCKHOOK_MONITOR_ADDRESSES_TABLE",
    "address_index": "BLOCKHOOK_ADDRESS_INDEX_TABLE",
    "state": "BLOCKHOOK_STATE_TABLE",
    "deliveries": "BLOCKHOOK_DELIVERIES_TABLE",
    "matches": "BLOCKHOOK_MATCHES_TABLE",
    "idempotency": "BLOCKHOOK_IDEMPOTENCY_TABLE",  # only the api has it
}
ALL_TABLES = set(TABLE_ENV) - {"idempotency"}
# name -> (tables it reads, tables it writes)
TABLE_ACCESS = {
    "api": (ALL_TABLES - {"matches"} | {"idempotency"}, ALL_TABLES - {"matches"} | {"idempotency"}),
    # monitors: the backfill jobs it runs (blockhook.ingest.backfill), GetItem and UpdateItem only; matches:
    # the ones still waiting on a chain whose node now has another genesis, dropped (Query, GetItem, UpdateItem).
    "ingest": ({"state", "monitors", "matches"}, {"state", "monitors", "matches"}),
    # monitors: the findings of a reconcile on its job, UpdateItem only
    "matcher": (ALL_TABLES, {"state", "deliveries", "matches", "monitors"}),
    "deliver": ({"deliveries", "monitors"}, {"deliveries", "monitors"}),  # monitors: health, UpdateItem only
}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def resource_ids(resource) -> set[str]:
    """Logical ids a policy Resource refers to (through Ref or GetAtt, also inside Fn::Join)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if "Ref" in node:
                found.add(node["Ref"])
            if "Fn::GetAtt" in node:
                found.add(node["Fn::GetAtt"][0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource)
    return found


def table_ids(functions: dict) -> dict[str, str]:
    env = functions["api"][1]["Environment"]["Variables"]
    return {table: env[variable]["Ref"] for table, variable in TABLE_ENV.items()}


def tables_with(statements: list[dict], actions: set[str], ids: dict[str, str]) -> set[str]:
    by_id = {lid: name for name, lid in ids.items()}
    granted = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and actions & set(as_list(statement["Action"])):
            granted |= {by_id[lid] for lid in resource_ids(statement["Resource"]) if lid in by_id}
    return granted


def test_four_blockhook_functions(functions: dict) -> None:
    assert set(functions) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_runtime_handler_architecture_tracing_size(functions: dict, name: str) -> None:
    _, props = functions[name]
    assert props["Runtime"] == "python3.12"
    assert props["Handler"] == "handler.handler"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert (props["MemorySize"], props["Timeout"]) == SIZES[name]


@pytest.mark.parametrize("name", NAMES)
def test_code_from_its_folder_with_both_layers(functions: dict, resources: dict, name: str) -> None:
    lid, props = functions[name]
    assert Path(resources[lid]["Metadata"]["aws:asset:path"]) == REPO_ROOT / "functions" / name
    layer_paths = set()
    for layer in props["Layers"]:
        res = resources[layer["Ref"]]
        assert res["Type"] == "AWS::Lambda::LayerVersion"
        assert res["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert res["Properties"]["CompatibleArchitectures"] == ["x86_64"]
        layer_paths.add(Path(res["Metadata"]["aws:asset:path"]))
    assert layer_paths == {REPO_ROOT / "layers" / "shared", REPO_ROOT / "build" / "layers" / "deps"}


@pytest.mark.parametrize("name", NAMES)
def test_handler_file_defines_handler(name: str) -> None:
    """The code folder the template deploys has the `handler.handler` it names."""
    source = REPO_ROOT / "functions" / name / "handler.py"
    assert source.is_file(), f"{source} is missing"
    tree = ast.parse(source.read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    assigned = {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    assert "handler" in defined | assigned


@pytest.mark.parametrize("name", NAMES)
def test_environment(functions: dict, name: str) -> None:
    env = functions[name][1]["Environment"]["Variables"]
    assert set(env) == COMMON_ENV | EXTRA_ENV[name]
    assert env["BLOCKHOOK_MODE"] == "cloud"
    assert env["POWERTOOLS_SERVICE_NAME"] == f"blockhook-{name}"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "BLOCKHOOK_RETRY_SCHEDULE" not in env  # the production schedule


def test_same_tables_and_queue_for_everyone(functions: dict, resources: dict) -> None:
    envs = [functions[name][1]["Environment"]["Variables"] for name in NAMES]
    for variable in COMMON_ENV - {"POWERTOOLS_SERVICE_NAME"}:
        assert all(env[variable] == envs[0][variable] for env in envs), variable
    assert resources[envs[0]["BLOCKHOOK_DELIVERY_QUEUE_URL"]["Ref"]]["Type"] == "AWS::SQS::Queue"


def test_ingest_and_api_settings(functions: dict, stack) -> None:
    api = functions["api"][1]["Environment"]["Variables"]
    assert api["BLOCKHOOK_AUTH_MODE"] == "apigateway"
    ingest = functions["ingest"][1]["Environment"]["Variables"]
    assert ingest["BLOCKHOOK_KAFKA_AUTH"] == "iam"
    assert ingest["BLOCKHOOK_KAFKA_TOPIC"] == "blocks"
    assert ingest["BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS"] == "15"
    chains = json.loads(ingest["BLOCKHOOK_CHAINS"])
    assert chains == {"chains": stack.node.try_get_context("chains")}
    assert chains["chains"][0]["chain_id"] == 1
    # The API serves the same chains (it refuses monitors on others and reports each one's lag),
    # and the matcher takes each chain's default confirmations from the same list.
    assert api["BLOCKHOOK_CHAINS"] == ingest["BLOCKHOOK_CHAINS"]
    assert functions["matcher"][1]["Environment"]["Variables"]["BLOCKHOOK_CHAINS"] == ingest["BLOCKHOOK_CHAINS"]


def test_ingest_stops_in_time_to_tile_the_minute(functions: dict) -> None:
    props = functions["ingest"][1]
    margin = int(props["Environment"]["Variables"]["BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS"])
    assert props["Timeout"] - margin == 60


def test_no_function_reserves_concurrency(by_type: dict) -> None:
    # An account still at its default concurrency quota (10) refuses any reservation, and the first deploy
    # rolls back: ingest is single-flight per chain by a lease (store/leases.py) instead.
    for props in (res["Properties"] for res in by_type["AWS::Lambda::Function"].values()):
        assert "ReservedConcurrentExecutions" not in props


def test_vpc_placement(functions: dict, resources: dict) -> None:
    config = functions["ingest"][1]["VpcConfig"]
    for subnet in config["SubnetIds"]:
        assert resources[subnet["Ref"]]["Properties"]["MapPublicIpOnLaunch"] is False
    assert len(config["SubnetIds"]) == 2
    # The matcher's records come through the MSK mapping, which reaches the cluster by itself.
    for name in ("api", "matcher", "deliver"):
        assert "VpcConfig" not in functions[name][1]


@pytest.mark.parametrize("name", NAMES)
def test_log_group_keeps_a_month(functions: dict, resources: dict, name: str) -> None:
    log_group = functions[name][1]["LoggingConfig"]["LogGroup"]["Ref"]
    assert resources[log_group]["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("name", NAMES)
def test_table_grants_are_least_privilege(functions: dict, statements_of, name: str) -> None:
    ids = table_ids(functions)
    reads, writes = TABLE_ACCESS[name]
    statements = statements_of(name)
    assert tables_with(statements, WRITE_ACTIONS, ids) == writes
    assert tables_with(statements, READ_ACTIONS, ids) == reads


@pytest.mark.parametrize("name", ["deliver", "matcher"])
def test_deliver_and_matcher_may_only_update_monitors(functions: dict, statements_of, name: str) -> None:
    ids = table_ids(functions)
    for action in WRITE_ACTIONS - {"dynamodb:UpdateItem"}:
        assert "monitors" not in tables_with(statements_of(name), {action}, ids), action
    assert "monitors" in tables_with(statements_of(name), {"dynamodb:UpdateItem"}, ids)


def dynamodb_actions_on(statements: list[dict], table_id: str) -> set[str]:
    return {
        action
        for statement in statements
        if statement["Effect"] == "Allow" and table_id in resource_ids(statement["Resource"])
        for action in as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }


def test_ingest_reads_and_advances_backfill_jobs_on_monitors(functions: dict, statements_of) -> None:
    """Backfill jobs live on the monitor item: ingest's BackfillRunner reads the monitor (get_monitor,
    GetItem) and records progress or failure (advance_backfill / fail_backfill, UpdateItem). Without
    these, every ingest run with an active backfill fails with AccessDenied."""
    ids = table_ids(functions)
    assert dynamodb_actions_on(statements_of("ingest"), ids["monitors"]) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    # The rest of its data: the State table (checkpoints, active backfills), and the matches it drops when
    # a chain's node has another genesis; nothing else.
    assert dynamodb_actions_on(statements_of("ingest"), ids["matches"]) == {
        "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem"
    }
    for table in ALL_TABLES - {"monitors", "state", "matches"}:
        assert dynamodb_actions_on(statements_of("ingest"), ids[table]) == set(), table
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= dynamodb_actions_on(
        statements_of("ingest"), ids["state"]
    )


def test_deliver_adds_to_the_delivery_stats_and_the_api_reads_them(functions: dict, statements_of) -> None:
    """The hourly stats items live in the deliveries table (store/delivery_stats.py): deliver adds to
    them with UpdateItem, the api reads a window of them with BatchGetItem."""
    ids = table_ids(functions)
    assert "dynamodb:UpdateItem" in dynamodb_actions_on(statements_of("deliver"), ids["deliveries"])
    assert {"dynamodb:GetItem", "dynamodb:BatchGetItem"} <= dynamodb_actions_on(statements_of("api"), ids["deliveries"])


@pytest.mark.parametrize("name", NAMES)
def test_queue_grants(functions: dict, statements_of, name: str) -> None:
    queue = functions["api"][1]["Environment"]["Variables"]["BLOCKHOOK_DELIVERY_QUEUE_URL"]["Ref"]
    actions = {
        action
        for statement in statements_of(name)
        if queue in resource_ids(statement["Resource"])
        for action in as_list(statement["Action"])
    }
    sends = name != "ingest"
    assert ("sqs:SendMessage" in actions) is sends
    assert ("sqs:ReceiveMessage" in actions) is (name == "deliver")
    assert ("sqs:DeleteMessage" in actions) is (name == "deliver")


def test_no_wildcard_actions(role_statements: dict) -> None:
    for role, statements in role_statements.items():
        for statement in statements:
            for action in as_list(statement["Action"]):
                assert action != "*", role
                assert not action.endswith(":*") or statement["Effect"] == "Deny", (role, action)


def kafka_grants(statements: list[dict]) -> dict[str, list]:
    """Kafka action -> the Resource values granting it."""
    grants: dict[str, list] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith(("kafka-cluster:", "kafka:")):
                grants.setdefault(action, []).extend(as_list(statement["Resource"]))
    return grants


def cluster_id(by_type: dict) -> str:
    (lid,) = by_type["AWS::MSK::ServerlessCluster"]
    return lid


def child_arn_text(resource) -> str:
    """A topic or group ARN built from the cluster ARN, flattened to text for inspection."""
    return json.dumps(resource)


def test_ingest_kafka_statements(statements_of, by_type: dict) -> None:
    grants = kafka_grants(statements_of("ingest"))
    cluster = {"Fn::GetAtt": [cluster_id(by_type), "Arn"]}
    for action in ("kafka-cluster:Connect", "kafka-cluster:DescribeCluster"):
        assert grants[action] == [cluster]
    for action in ("kafka-cluster:WriteData", "kafka-cluster:DescribeTopic"):
        (resource,) = grants[action]
        text = child_arn_text(resource)
        assert ":topic/" in text and '"blocks"' in text and cluster_id(by_type) in text
        assert '"Fn::Split"' in text
    assert not any(action.startswith("kafka-cluster:Read") for action in grants)
    # The topic is created by the Topics custom resource, not by the producer.
    assert "kafka-cluster:CreateTopic" not in grants


def test_matcher_kafka_statements(statements_of, by_type: dict) -> None:
    grants = kafka_grants(statements_of("matcher"))
    cluster = {"Fn::GetAtt": [cluster_id(by_type), "Arn"]}
    for action in (
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka:DescribeClusterV2",
        "kafka:GetBootstrapBrokers",
    ):
        assert cluster in grants[action], action
    for action in ("kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"):
        (resource,) = grants[action]
        text = child_arn_text(resource)
        assert ":topic/" in text and '"blocks"' in text
    for action in ("kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"):
        (resource,) = grants[action]
        text = child_arn_text(resource)
        assert ":group/" in text and '"blockhook-matcher"' in text
    assert not any(action.startswith("kafka-cluster:Write") for action in grants)


def test_topic_arn_reuses_cluster_name_and_uuid(statements_of, by_type: dict) -> None:
    (topic,) = kafka_grants(statements_of("ingest"))["kafka-cluster:WriteData"]
    cluster = {"Fn::GetAtt": [cluster_id(by_type), "Arn"]}
    split = {"Fn::Split": ["/", cluster]}
    # arn:<partition>:kafka:<region>:<account>:topic/ + NAME/UUID/blocks
    prefix, path = topic["Fn::Join"][1][-2:]
    assert prefix.endswith(":topic/")
    assert path == {"Fn::Join": ["/", [{"Fn::Select": [1, split]}, {"Fn::Select": [2, split]}, "blocks"]]}


def test_matcher_role_has_msk_event_source_networking(functions: dict, resources: dict) -> None:
    role = functions["matcher"][1]["Role"]["Fn::GetAtt"][0]
    managed = json.dumps(resources[role]["Properties"]["ManagedPolicyArns"])
    # ENIs in the cluster's subnets for the event source mapping (ec2:CreateNetworkInterface & co.).
    assert "service-role/AWSLambdaMSKExecutionRole" in managed
    # The function itself is not in the VPC: no interfaces of its own.
    assert "service-role/AWSLambdaVPCAccessExecutionRole" not in managed


@pytest.mark.parametrize("name", ("api", "deliver"))
def test_no_kafka_for_functions_outside_the_vpc(statements_of, name: str) -> None:
    assert kafka_grants(statements_of(name)) == {}
