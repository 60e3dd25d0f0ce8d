"""Tenants (context `tenants`): one API key and one usage plan each, in the synthesised template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from blockhook.api.auth import resolve_tenant
from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack
from infra.blockhook_infra.tenants import (
    DEFAULT_TENANTS,
    STAGE_BURST_LIMIT,
    STAGE_RATE_LIMIT,
    Tenant,
    TenantsContextError,
    tenants_from_context,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TWO_TENANTS = [
    {"name": "default"},
    {"name": "acme-corp", "rate_limit": 20, "burst": 40, "quota_per_day": 100000},
]


def cdk_json_context() -> dict:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def synth(tmp_path_factory, **context) -> dict:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={**cdk_json_context(), "aws:cdk:disable-asset-staging": True, **context},
    )
    return Template.from_stack(BlockhookStack(app, STACK_NAME)).to_json()


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == kind}


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory) -> dict:
    # As `-c tenants='[...]'` hands it over: a JSON string.
    return synth(tmp_path_factory, tenants=json.dumps(TWO_TENANTS))


# The context


def test_absent_context_is_one_default_tenant_with_the_local_throttle() -> None:
    assert tenants_from_context(None) == DEFAULT_TENANTS == (Tenant("default", 50, 100),)


def test_list_and_json_string_agree() -> None:
    parsed = tenants_from_context(TWO_TENANTS)
    assert parsed == tenants_from_context(json.dumps(TWO_TENANTS))
    assert parsed[1] == Tenant("acme-corp", rate_limit=20, burst=40, quota_per_day=100000)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{", "not valid JSON"),
        ([], "non-empty list"),
        ({"name": "a"}, "non-empty list"),
        (["acme"], "expected an object"),
        ([{"rate_limit": 5}], "name must be"),
        ([{"name": "acme corp"}], "name must be"),
        ([{"name": "-acme"}], "name must be"),
        ([{"name": "acme", "rate": 5}], r"unknown field\(s\) \['rate'\]"),
        ([{"name": "acme", "rate_limit": 0}], "rate_limit must be"),
        ([{"name": "acme", "rate_limit": "10"}], "rate_limit must be"),
        ([{"name": "acme", "rate_limit": STAGE_RATE_LIMIT + 1}], "at most the stage's"),
        ([{"name": "acme", "burst": 2.5}], "burst must be"),
        ([{"name": "acme", "burst": True}], "burst must be"),
        ([{"name": "acme", "burst": STAGE_BURST_LIMIT + 1}], "burst must be"),
        ([{"name": "acme", "quota_per_day": 0}], "quota_per_day must be"),
        ([{"name": "acme", "api_key_id": "not/an/id"}], "api_key_id must be"),
        ([{"name": "acme"}, {"name": "ACME"}], "same tenant"),
        ([{"name": "acme-1"}, {"name": "acme1"}], "same tenant"),
        ([{"name": "a", "api_key_id": "k1"}, {"name": "b", "api_key_id": "k1"}], "same api_key_id"),
        ([{"name": "acme", "keys": []}], "keys must list"),
        ([{"name": "acme", "keys": [1, 2, 3]}], "keys must list"),
        ([{"name": "acme", "keys": [0]}], "keys must list"),
        ([{"name": "acme", "keys": [2, 2]}], "keys must list"),
        ([{"name": "acme", "keys": ["2"]}], "keys must list"),
        ([{"name": "acme", "keys": 2}], "keys must list"),
    ],
)
def test_bad_context_is_refused_clearly(raw, message: str) -> None:
    with pytest.raises(TenantsContextError, match=message):
        tenants_from_context(raw)


def test_bad_context_fails_the_stack(tmp_path_factory) -> None:
    with pytest.raises(TenantsContextError, match="rate_limit"):
        synth(tmp_path_factory, tenants=[{"name": "acme", "rate_limit": -1}])


def test_cdk_app_reports_a_bad_context_in_one_line(tmp_path: Path) -> None:
    """infra/app.py (what `cdk synth` runs) exits with the message, not a traceback."""
    context = {**cdk_json_context(), "tenants": '[{"name": "acme", "burst": 0}]'}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "infra" / "app.py")],
        env={**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "blockhook synth: CDK context `tenants`, tenant 'acme': burst must be" in result.stderr
    assert "Traceback" not in result.stderr


# The template


def test_default_tenant_keeps_the_original_key_and_plan(by_type: dict) -> None:
    """A stack deployed before tenants were configurable has these logical ids: a new id would replace
    the key, and a new key id is a new tenant, cut off from everything the old one created."""
    assert set(by_type["AWS::ApiGateway::ApiKey"]) == {"ApiApiKey8A01341B"}
    assert set(by_type["AWS::ApiGateway::UsagePlan"]) == {"ApiRestApiUsagePlan2A40902F"}
    (key,) = by_type["AWS::ApiGateway::ApiKey"].values()
    assert "Name" not in key["Properties"]  # a name on the existing key would replace it
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_two_tenants_two_keys_two_plans(two_tenants: dict) -> None:
    keys = of_type(two_tenants, "AWS::ApiGateway::ApiKey")
    plans = of_type(two_tenants, "AWS::ApiGateway::UsagePlan")
    bindings = [r["Properties"] for r in of_type(two_tenants, "AWS::ApiGateway::UsagePlanKey").values()]
    assert len(keys) == len(plans) == len(bindings) == 2
    (stage,) = of_type(two_tenants, "AWS::ApiGateway::Stage")
    (rest_api,) = of_type(two_tenants, "AWS::ApiGateway::RestApi")
    # Each plan holds exactly one key, each key is in exactly one plan, and every plan covers the stage.
    assert sorted(b["UsagePlanId"]["Ref"] for b in bindings) == sorted(plans)
    assert sorted(b["KeyId"]["Ref"] for b in bindings) == sorted(keys)
    for plan in plans.values():
        assert [(s["ApiId"], s["Stage"]) for s in plan["Properties"]["ApiStages"]] == [
            ({"Ref": rest_api}, {"Ref": stage})
        ]
    key_of_plan = {b["UsagePlanId"]["Ref"]: b["KeyId"]["Ref"] for b in bindings}
    by_key = {keys[key_of_plan[lid]]["Properties"].get("Name"): plan["Properties"] for lid, plan in plans.items()}
    # `default`: the original unnamed key and plan, the default throttle, no quota.
    assert by_key[None]["UsagePlanName"] == "blockhook"
    assert by_key[None]["Throttle"] == {"RateLimit": 50, "BurstLimit": 100}
    assert "Quota" not in by_key[None]
    acme = by_key["BlockhookStack-acme-corp"]
    assert acme["UsagePlanName"] == "blockhook-acme-corp"
    assert acme["Throttle"] == {"RateLimit": 20, "BurstLimit": 40}
    assert acme["Quota"] == {"Limit": 100000, "Period": "DAY"}
    for key in keys.values():
        assert key["Properties"]["Enabled"] is True
        assert key["DeletionPolicy"] == "Retain"


def test_tenant_outputs(two_tenants: dict) -> None:
    outputs = two_tenants["Outputs"]
    keys = of_type(two_tenants, "AWS::ApiGateway::ApiKey")
    first = next(lid for lid, key in keys.items() if "Name" not in key["Properties"])
    assert outputs["ApiKeyId"]["Value"] == {"Ref": first}
    parts = outputs["TenantApiKeyIds"]["Value"]["Fn::Join"][1]
    rendered = "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)
    second = next(lid for lid in keys if lid != first)
    assert json.loads(rendered) == {"default": f"<{first}>", "acme-corp": f"<{second}>"}


def test_an_existing_key_is_attached_not_created(tmp_path_factory) -> None:
    template = synth(tmp_path_factory, tenants=[{"name": "globex", "api_key_id": "a1b2c3d4e5"}])
    assert of_type(template, "AWS::ApiGateway::ApiKey") == {}
    (binding,) = [r["Properties"] for r in of_type(template, "AWS::ApiGateway::UsagePlanKey").values()]
    assert binding["KeyId"] == "a1b2c3d4e5"
    assert template["Outputs"]["ApiKeyId"]["Value"] == "a1b2c3d4e5"


def test_the_api_function_takes_the_gateway_key_id_as_the_tenant(functions: dict) -> None:
    """Per-tenant keys need no code: with auth mode apigateway the api function's tenant is the id of the
    key API Gateway checked (requestContext.identity.apiKeyId), whichever plan holds it."""
    assert functions["api"][1]["Environment"]["Variables"]["BLOCKHOOK_AUTH_MODE"] == "apigateway"
    context = {"identity": {"apiKeyId": "a1b2c3d4e5"}}
    assert resolve_tenant("apigateway", {}, context, local_keys=()) == "key_a1b2c3d4e5"
    other = {"identity": {"apiKeyId": "f6g7h8i9j0"}}
    assert resolve_tenant("apigateway", {}, other, local_keys=()) != resolve_tenant("apigateway", {}, context, ())


# Rotating a tenant's key: two live keys, then the new one alone; the tenant stays the first key's.


def rendered(value) -> str:
    """A template value that joins literals and Refs, with each Ref written <logical id>."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in value["Fn::Join"][1])
    return value


def acme_keys(template: dict) -> dict[str, dict]:
    return {lid: key for lid, key in of_type(template, "AWS::ApiGateway::ApiKey").items()
            if "acme" in key["Properties"].get("Name", "")}  # fmt: skip


def bindings_of(template: dict, plan_name: str) -> dict[str, str]:
    """Binding logical id -> the key it puts in the plan named `plan_name`."""
    plans = {lid for lid, plan in of_type(template, "AWS::ApiGateway::UsagePlan").items()
             if plan["Properties"]["UsagePlanName"] == plan_name}  # fmt: skip
    return {lid: b["Properties"]["KeyId"]["Ref"] for lid, b in of_type(template, "AWS::ApiGateway::UsagePlanKey").items()
            if b["Properties"]["UsagePlanId"]["Ref"] in plans}  # fmt: skip


@pytest.fixture(scope="module")
def rotating(tmp_path_factory) -> dict:
    return synth(tmp_path_factory, tenants=[{"name": "default"}, {"name": "acme", "keys": [1, 2]}])


@pytest.fixture(scope="module")
def rotated(tmp_path_factory) -> dict:
    return synth(tmp_path_factory, tenants=[{"name": "default"}, {"name": "acme", "keys": [2]}])


def api_environment(template: dict) -> dict:
    for function in of_type(template, "AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if variables.get("POWERTOOLS_SERVICE_NAME") == "blockhook-api":
            return variables
    raise AssertionError("no api function")


def test_during_a_rotation_both_keys_are_live_and_the_new_one_acts_as_the_first(rotating: dict) -> None:
    keys = acme_keys(rotating)
    first = next(lid for lid, key in keys.items() if key["Properties"]["Name"] == "BlockhookStack-acme")
    second = next(lid for lid, key in keys.items() if key["Properties"]["Name"] == "BlockhookStack-acme-2")
    assert all(key["Properties"]["Enabled"] is True for key in keys.values())
    assert sorted(bindings_of(rotating, "blockhook-acme").values()) == sorted([first, second])
    assert keys[first]["DeletionPolicy"] == "Retain"  # its id names the tenant in the tables
    # The api function maps the new key to the tenant of the first: key_<first key's id>.
    assert json.loads(rendered(api_environment(rotating)["BLOCKHOOK_TENANT_KEYS"])) == {
        f"<{second}>": f"key_<{first}>"
    }
    outputs = rotating["Outputs"]
    assert json.loads(rendered(outputs["TenantApiKeyIds"]["Value"]))["acme"] == f"<{second}>"  # the one to hand out
    assert json.loads(rendered(outputs["TenantIds"]["Value"]))["acme"] == f"key_<{first}>"


def test_after_the_rotation_the_first_key_is_disabled_and_out_of_the_plan(rotating: dict, rotated: dict) -> None:
    keys = acme_keys(rotated)
    first = next(lid for lid, key in keys.items() if key["Properties"]["Name"] == "BlockhookStack-acme")
    second = next(lid for lid, key in keys.items() if key["Properties"]["Name"] == "BlockhookStack-acme-2")
    assert keys[first]["Properties"]["Enabled"] is False and keys[first]["DeletionPolicy"] == "Retain"
    assert keys[second]["Properties"]["Enabled"] is True
    assert list(bindings_of(rotated, "blockhook-acme").values()) == [second]
    # The new key's binding keeps its logical id, so this deploy does not re-create it.
    (binding,) = bindings_of(rotated, "blockhook-acme")
    assert binding in bindings_of(rotating, "blockhook-acme")
    assert json.loads(rendered(api_environment(rotated)["BLOCKHOOK_TENANT_KEYS"])) == {f"<{second}>": f"key_<{first}>"}
    # Nothing else moved: the default tenant's key and binding are the same resources.
    assert set(of_type(rotated, "AWS::ApiGateway::ApiKey")) == set(of_type(rotating, "AWS::ApiGateway::ApiKey"))


def test_without_rotations_the_mapping_is_empty(two_tenants: dict) -> None:
    assert json.loads(rendered(api_environment(two_tenants)["BLOCKHOOK_TENANT_KEYS"])) == {}


def test_a_mapped_key_resolves_to_its_tenant() -> None:
    mapping = {"newkey2": "key_firstkey1"}
    for key_id in ("firstkey1", "newkey2"):
        context = {"identity": {"apiKeyId": key_id}}
        assert resolve_tenant("apigateway", {}, context, (), mapping) == "key_firstkey1"
    assert resolve_tenant("apigateway", {}, {"identity": {"apiKeyId": "other"}}, (), mapping) == "key_other"
