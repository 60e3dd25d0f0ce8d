"""The API's limits in the synthesised template: the usage plan's throttle is the rule the local API
applies by default, and the Idempotency-Key records table is the one the code writes."""

from __future__ import annotations

from blockhook.config import load_settings
from blockhook.store import idempotency

WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def test_local_throttle_defaults_are_the_usage_plan(by_type: dict) -> None:
    ((_, plan),) = by_type["AWS::ApiGateway::UsagePlan"].items()
    defaults = load_settings({})
    assert plan["Properties"]["Throttle"] == {"RateLimit": defaults.rate_limit, "BurstLimit": defaults.rate_burst}


def _idempotency_table(functions: dict, resources: dict) -> tuple[str, dict]:
    variable = functions["api"][1]["Environment"]["Variables"][idempotency.TABLE_VARIABLE]
    lid = variable["Ref"]
    assert resources[lid]["Type"] == "AWS::DynamoDB::Table"
    return lid, resources[lid]


def test_idempotency_table_is_keyed_and_expires_as_powertools_writes_it(functions: dict, resources: dict) -> None:
    _, table = _idempotency_table(functions, resources)
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": idempotency.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": idempotency.KEY_ATTRIBUTE, "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": idempotency.EXPIRY_ATTRIBUTE, "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    # Records of a day: no backup, and nothing to keep once the stack is gone.
    assert "PointInTimeRecoverySpecification" not in props
    assert table["DeletionPolicy"] == "Delete"


def test_only_the_api_knows_and_writes_the_idempotency_table(
    functions: dict, resources: dict, statements_of
) -> None:
    lid, _ = _idempotency_table(functions, resources)
    for name, (_, props) in functions.items():
        env = props["Environment"]["Variables"]
        assert (idempotency.TABLE_VARIABLE in env) is (name == "api"), name
        touching = {
            action
            for statement in statements_of(name)
            if statement["Effect"] == "Allow" and lid in _ids(statement["Resource"])
            for action in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        }
        if name == "api":
            assert WRITE_ACTIONS | {"dynamodb:GetItem"} <= touching
        else:
            assert touching == set(), name


def _ids(resource) -> set[str]:
    found: set[str] = set()
    stack = [resource]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "Ref" in node:
                found.add(node["Ref"])
            if "Fn::GetAtt" in node:
                found.add(node["Fn::GetAtt"][0])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
