"""Context `prefix`: deployments side by side in one account share no name, and no prefix keeps today's names."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from infra.blockhook_infra.options import OptionsContextError, prefix_from_context, stack_name
from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANTS = [{"name": "default"}, {"name": "acme"}]
# Top-level properties that end in "Name" but name something inside another resource, not in the account.
NOT_ACCOUNT_WIDE = {"StageName", "PolicyName", "MetricName", "ServiceName", "LogGroupName", "FunctionName"}


def physical_names(name: str, template: dict) -> set[str]:
    """Every literal name the template gives a resource in the account and region, the stack's own, and the
    namespace of its custom metrics (shared by every stack of the account unless it differs)."""
    names = {name}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key, value in props.items():
            if (key == "Name" or key.endswith("Name")) and key not in NOT_ACCOUNT_WIDE and isinstance(value, str):
                names.add(value)
        env = props.get("Environment", {}).get("Variables", {})
        if "POWERTOOLS_METRICS_NAMESPACE" in env:
            names.add(env["POWERTOOLS_METRICS_NAMESPACE"])
        if isinstance(props.get("Namespace"), str) and not props["Namespace"].startswith("AWS/"):
            names.add(props["Namespace"])
    return names


def synth(tmp_path_factory, **context) -> BlockhookStack:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={
            **json.loads((REPO_ROOT / "cdk.json").read_text())["context"],
            "aws:cdk:disable-asset-staging": True,
            "tenants": TENANTS,
            **context,
        },
    )
    return BlockhookStack(app)


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str | None, tuple[str, dict]]:
    """Three Apps, as three `cdk synth` runs would be: no prefix, staging, production."""
    found = {}
    for prefix in (None, "staging", "production"):
        stack = synth(tmp_path_factory, **({"prefix": prefix} if prefix else {}))
        found[prefix] = (stack.stack_name, cdk.assertions.Template.from_stack(stack).to_json())
    return found


@pytest.fixture(scope="module")
def side_by_side(templates: dict) -> dict[str | None, set[str]]:
    return {prefix: physical_names(*found) for prefix, found in templates.items()}


def test_no_prefix_keeps_todays_names(side_by_side: dict) -> None:
    names = side_by_side[None]
    assert {
        "BlockhookStack",
        "BlockhookStack-kafka",
        "alias/blockhook/webhook-secrets",
        "blockhook",  # the default tenant's usage plan, and the metrics namespace
        "blockhook-acme",
        "BlockhookStack-acme",
        "RestApi",
        "blockhook alarms",
    } <= names


def test_prefixed_deployments_share_no_name_with_each_other_or_the_unprefixed_one(side_by_side: dict) -> None:
    staging, production, plain = side_by_side["staging"], side_by_side["production"], side_by_side[None]
    assert len(staging) == len(production)
    assert staging & production == set()
    assert staging & plain == set()
    assert production & plain == set()
    assert {
        "staging-BlockhookStack",
        "staging-BlockhookStack-kafka",
        "alias/staging/blockhook/webhook-secrets",
        "staging/blockhook",
        "staging-blockhook",
        "staging-blockhook-acme",
        "staging-BlockhookStack-acme",
        "staging-RestApi",
        "staging blockhook alarms",
    } <= staging


def test_prefixed_alarms_watch_their_own_metrics(templates: dict) -> None:
    _, template = templates["staging"]
    namespaces = set()
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            props = resource["Properties"]
            namespaces.add(props.get("Namespace"))
            namespaces |= {m["MetricStat"]["Metric"].get("Namespace") for m in props.get("Metrics", []) if "MetricStat" in m}
    assert "staging/blockhook" in namespaces
    assert "blockhook" not in namespaces


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("staging", "staging"), ("eu-prod2", "eu-prod2")])
def test_prefix_context(raw, expected) -> None:
    assert prefix_from_context(raw) == expected
    assert stack_name(expected) == (f"{expected}-BlockhookStack" if expected else STACK_NAME)


@pytest.mark.parametrize("raw", ["Staging", "1st", "-x", "x-", "a--b", "a_b", "a" * 21, 7, "st/aging"])
def test_prefix_context_refuses_what_would_not_name_resources(raw) -> None:
    with pytest.raises(OptionsContextError, match="prefix"):
        prefix_from_context(raw)
