"""cdk-nag's AwsSolutions checks pass on the stack, and every accepted finding says why."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks

from infra.blockhook_infra import stack as stack_module
from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    """cdk.json's context, as `cdk synth` reads it."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def new_app(tmp_path_factory, **context) -> cdk.App:
    return cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        context={**cdk_json_context(), "aws:cdk:disable-asset-staging": True, **context},
    )


def acknowledgments(scope) -> list[tuple[str, str]]:
    """Every AwsSolutions acknowledgment recorded in the construct tree: (rule id, reason)."""
    found = []
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.extend((rule, reason) for rule, reason in entry.data.items() if "AwsSolutions-" in rule)
    return found


@pytest.mark.parametrize(
    "context",
    [{}, {"waf": "true"}, {"tenants": [{"name": "default"}, {"name": "acme", "quota_per_day": 1000}, {"name": "old", "api_key_id": "a1b2c3d4e5"}]},
     {"prefix": "staging"}],
    ids=["default", "waf", "tenants", "prefix"],
)
def test_no_unacknowledged_findings(tmp_path_factory, context: dict) -> None:
    app = new_app(tmp_path_factory, **context)
    stack = BlockhookStack(app, STACK_NAME)
    report = AwsSolutionsChecks().validate_scope(stack)
    assert [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations] == []
    assert report.success is True


def test_synth_with_the_nag_plugin_succeeds(tmp_path_factory) -> None:
    """As infra/app.py runs it: the plugin fails synth on any finding (ValidationFailed)."""
    app = new_app(tmp_path_factory)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    BlockhookStack(app, STACK_NAME)
    app.synth()


def test_every_acknowledgment_has_a_reason(stack: BlockhookStack) -> None:
    found = acknowledgments(stack)
    assert len(found) >= 15
    for rule, reason in found:
        assert len(reason) >= 40, (rule, reason)  # a reason, not a placeholder


def test_without_acknowledgments_the_checks_find_things(tmp_path_factory, monkeypatch) -> None:
    """The control: the checks do run on these resources; the acknowledgments are what makes them pass."""
    monkeypatch.setattr(stack_module, "acknowledge_findings", lambda stack: None)
    stack = BlockhookStack(new_app(tmp_path_factory), STACK_NAME)
    rules = {v.rule_name.split("[")[0] for v in AwsSolutionsChecks().validate_scope(stack).violations}
    assert {"AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-APIG4", "AwsSolutions-L1"} <= rules


def test_app_registers_the_nag_plugin() -> None:
    from infra.blockhook_infra.paths import REPO_ROOT

    source = (REPO_ROOT / "infra" / "app.py").read_text()
    assert "Validations.of(app).add_plugins(AwsSolutionsChecks())" in source


def test_no_acknowledgment_on_the_stack_itself(stack: BlockhookStack) -> None:
    """An acknowledgment on the stack would cover every construct added later, unchecked."""
    on_stack = [
        rule
        for entry in stack.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
        if "AwsSolutions-" in rule
    ]
    assert on_stack == []


@pytest.mark.parametrize("where", ["stack", "functions"])
def test_a_new_function_is_checked_afresh(tmp_path_factory, where: str) -> None:
    """A function added next to ours (at the stack, or among the functions) is not covered by their
    acknowledgments: its runtime, managed policy and X-Ray wildcard are findings until someone says why."""
    from aws_cdk import aws_lambda as lambda_

    stack = BlockhookStack(new_app(tmp_path_factory), STACK_NAME)
    scope = stack if where == "stack" else stack.functions
    newcomer = lambda_.Function(
        scope,
        "Newcomer",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        tracing=lambda_.Tracing.ACTIVE,
    )
    found = {
        violation.rule_name: sorted(r.construct_path for r in violation.violating_resources)
        for violation in AwsSolutionsChecks().validate_scope(stack).violations
    }
    path = newcomer.node.path
    basic = "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
    assert found == {
        "AwsSolutions-L1": [f"{path}/Resource"],
        basic: [f"{path}/ServiceRole/Resource"],
        "AwsSolutions-IAM5[Resource::*]": [f"{path}/ServiceRole/DefaultPolicy/Resource"],
    }


def test_xray_is_the_only_wildcard_resource_of_the_functions(functions: dict, statements_of) -> None:
    """IAM5[Resource::*] is acknowledged on the four functions' roles for X-Ray alone: nothing else there
    may be granted on every resource."""
    for name in functions:
        for statement in statements_of(name):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "*" in resources:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, (name, actions)
