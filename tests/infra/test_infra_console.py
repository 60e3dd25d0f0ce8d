"""The web console in the synthesised template: its page open at /console, served by a function of its
own that holds the built files and no grant but its logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.blockhook_infra.console import SITE_FOLDER
from infra.blockhook_infra.paths import REPO_ROOT


@pytest.fixture(scope="session")
def console(stack, by_type: dict) -> tuple[str, dict]:
    lid = stack.resolve(stack.console.function.node.default_child.logical_id)
    return lid, by_type["AWS::Lambda::Function"][lid]


def test_the_page_needs_no_key_and_goes_to_the_console_function(methods: dict, console) -> None:
    lid, _ = console
    console_methods = {key: props for key, props in methods.items() if key[0].startswith("/console")}
    assert len(console_methods) == 4
    for props in console_methods.values():
        assert props["ApiKeyRequired"] is False
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert {"Fn::GetAtt": [lid, "Arn"]} in props["Integration"]["Uri"]["Fn::Join"][1]


def test_the_function_has_the_shared_layer_alone_and_no_grant(stack, console, role_statements: dict) -> None:
    _, function = console
    props = function["Properties"]
    assert props["Handler"] == "handler.handler"
    assert props["Layers"] == [{"Ref": stack.resolve(stack.functions.shared_layer.node.default_child.logical_id)}]
    role = props["Role"]["Fn::GetAtt"][0]
    assert role_statements.get(role, []) == []  # no table, queue, key or bucket: only the logs policy
    assert "Environment" not in props  # no key, no table name: nothing to find


def test_the_asset_holds_the_handler_and_the_built_site(stack, console) -> None:
    _, function = console
    folder = Path(stack.node.root.outdir, function["Metadata"]["aws:asset:path"])  # absolute stays absolute
    assert (folder / "handler.py").read_text() == (REPO_ROOT / "functions/console/handler.py").read_text()
    built = REPO_ROOT / "build/console"
    for file in built.rglob("*"):
        if file.is_file() and file.name != ".built":
            assert (folder / SITE_FOLDER / file.relative_to(built)).read_bytes() == file.read_bytes()


def test_the_stack_prints_the_console_url(template) -> None:
    outputs = template.to_json()["Outputs"]
    joined = outputs["ConsoleUrl"]["Value"]["Fn::Join"][1]
    assert joined[-1].endswith("/console/")
