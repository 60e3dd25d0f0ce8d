"""Synthesises BlockhookStack once per session with cdk.json's own context, like `cdk synth` does."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.blockhook_infra.stack import STACK_NAME, BlockhookStack

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> BlockhookStack:
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")),
        # Fingerprint the assets but do not copy the ~130 MB dependency layer into the test's outdir.
        context={
            **cdk_json_context(),
            "aws:cdk:disable-asset-staging": True,
            # Record each asset's source folder on its resource (as `cdk synth` does) to check it.
            "aws:cdk:enable-asset-metadata": True,
        },
    )
    return BlockhookStack(app, STACK_NAME)


@pytest.fixture(scope="session")
def template(stack: BlockhookStack) -> Template:
    return Template.from_stack(stack)


@pytest.fixture(scope="session")
def resources(template: Template) -> dict:
    """The synthesised template's Resources, for assertions the matchers cannot express."""
    return template.to_json()["Resources"]


@pytest.fixture(scope="session")
def by_type(resources: dict) -> dict[str, dict[str, dict]]:
    """CloudFormation type -> {logical id: resource}."""
    grouped: dict[str, dict[str, dict]] = {}
    for lid, res in resources.items():
        grouped.setdefault(res["Type"], {})[lid] = res
    return grouped


@pytest.fixture(scope="session")
def functions(by_type: dict) -> dict[str, tuple[str, dict]]:
    """blockhook's functions by name (api, ingest, ...): (logical id, Properties), found by service name."""
    found = {}
    for lid, res in by_type["AWS::Lambda::Function"].items():
        service = (
            res["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "")
        )
        if service.startswith("blockhook-"):
            found[service.removeprefix("blockhook-")] = (lid, res["Properties"])
    return found


@pytest.fixture(scope="session")
def role_statements(by_type: dict) -> dict[str, list[dict]]:
    """Role logical id -> every statement of the inline policies attached to it."""
    statements: dict[str, list[dict]] = {}
    for res in by_type.get("AWS::IAM::Policy", {}).values():
        for role in res["Properties"].get("Roles", []):
            statements.setdefault(role["Ref"], []).extend(res["Properties"]["PolicyDocument"]["Statement"])
    for lid, res in by_type.get("AWS::IAM::Role", {}).items():
        for policy in res["Properties"].get("Policies", []):
            statements.setdefault(lid, []).extend(policy["PolicyDocument"]["Statement"])
    return statements


@pytest.fixture(scope="session")
def statements_of(functions: dict, role_statements: dict):
    """name -> the statements of that function's execution role."""

    def lookup(name: str) -> list[dict]:
        role = functions[name][1]["Role"]["Fn::GetAtt"][0]
        return role_statements.get(role, [])

    return lookup


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "synth: runs the CDK CLI (`cdk synth`) as a subprocess, about 10 s")


@pytest.fixture(scope="session")
def paths(by_type: dict) -> dict[str, str]:
    """ApiGateway::Resource logical id -> its full path (/v1/health, ...)."""
    resources = {lid: res["Properties"] for lid, res in by_type["AWS::ApiGateway::Resource"].items()}

    def path_of(lid: str) -> str:
        parent = resources[lid]["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{resources[lid]['PathPart']}"

    return {lid: path_of(lid) for lid in resources}


@pytest.fixture(scope="session")
def methods(by_type: dict, paths: dict) -> dict[tuple[str, str], dict]:
    """(path, HTTP method) -> Method properties."""
    found = {}
    for res in by_type["AWS::ApiGateway::Method"].values():
        props = res["Properties"]
        found[(paths[props["ResourceId"]["Ref"]], props["HttpMethod"])] = props
    return found
