"""The API's limits in the synthesised template: the usage plan's throttle is the rule the local API
applies by default, and the Idempotency-Key records table is the one the code writes."""

from __future__ import annotations

import json
import random
import re

import pytest

from blockhook.api.limits import MAX_BODY_BYTES as FUNCTION_MAX_BODY_BYTES
from blockhook.api.models import MAX_ADDRESSES_PER_CALL
from blockhook.config import load_settings
from blockhook.store import idempotency
from infra.blockhook_infra.api import MAX_BODY_BYTES, greater_than_patterns

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


# Request size: the function's limit, the WAF's Content-Length rule and API Gateway's own 413.


def test_waf_body_limit_is_the_function_limit() -> None:
    assert MAX_BODY_BYTES == FUNCTION_MAX_BODY_BYTES
    # Room for the largest call of labelled addresses, inside Lambda's 6 MB invoke payload.
    assert MAX_ADDRESSES_PER_CALL * 400 < MAX_BODY_BYTES < 5 * 2**20


def _over(value: str, limit: int) -> bool:
    return any(re.search(pattern, value) for pattern in greater_than_patterns(limit))


@pytest.mark.parametrize("limit", [MAX_BODY_BYTES, 1, 9, 10, 99, 100, 999_999, 1_000_000, 8_999])
def test_content_length_patterns_match_exactly_the_numbers_above_the_limit(limit: int) -> None:
    rng = random.Random(limit)
    values = set(range(max(0, limit - 300), limit + 300))
    values |= {0, 1, 9, 10, 10**6, 10**7 - 1, 10**7, 6 * 2**20, 10 * 2**20, 10**12, 2**63}
    values |= {rng.randrange(0, 20 * limit + 20) for _ in range(3000)}
    values |= {rng.randrange(0, 10**10) for _ in range(1000)}
    for value in values:
        for text in (str(value), "00" + str(value)):
            assert _over(text, limit) is (value > limit), (limit, text)
    for text in ("", "abc", "-5", "1e9", "1048577x", " 1048577"):
        assert _over(text, limit) is False, text


def test_content_length_patterns_are_plain_for_waf() -> None:
    """WAF's regexes refuse capturing groups and many `|` branches: each pattern is a plain anchored run."""
    for pattern in greater_than_patterns(MAX_BODY_BYTES):
        assert re.fullmatch(r"\^0\*[0-9\[\]\-{},]+\$", pattern), pattern


def test_gateway_answers_413_in_the_contract_shape(by_type: dict) -> None:
    (response,) = [
        r["Properties"]
        for r in by_type["AWS::ApiGateway::GatewayResponse"].values()
        if r["Properties"]["ResponseType"] == "REQUEST_TOO_LARGE"
    ]
    assert response["StatusCode"] == "413"
    body = response["ResponseTemplates"]["application/json"].replace("$context.error.messageString", '"m"')
    assert json.loads(body)["error"]["code"] == "payload_too_large"
