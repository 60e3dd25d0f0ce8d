"""docs/openapi.json is the OpenAPI document the code generates now, and the one the API serves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from blockhook.api.openapi_export import main, render
from blockhook.local.lambdas import LocalFunction
from blockhook.local.servers import REPO_ROOT
from tests.support.builders import api_event

COMMITTED = REPO_ROOT / "docs" / "openapi.json"
REGENERATE = "make openapi  (or: python -m blockhook.api.openapi_export docs/openapi.json)"


def test_the_committed_document_is_what_the_code_generates():
    assert COMMITTED.is_file(), f"docs/openapi.json is missing: generate it with `{REGENERATE}`"
    committed = COMMITTED.read_text()
    generated = render()
    if committed != generated:
        pytest.fail(
            "docs/openapi.json is out of date with the API's code: regenerate it with "
            f"`{REGENERATE}` and commit it.\n" + _first_difference(committed, generated),
            pytrace=False,
        )


def _first_difference(committed: str, generated: str) -> str:
    for number, (old, new) in enumerate(zip(committed.splitlines(), generated.splitlines(), strict=False), 1):
        if old != new:
            return f"first difference at line {number}:\n  committed: {old.strip()}\n  generated: {new.strip()}"
    return f"one is a prefix of the other ({len(committed)} vs {len(generated)} characters)"


def test_the_committed_document_is_valid_openapi():
    from openapi_spec_validator import validate

    document = json.loads(COMMITTED.read_text())
    validate(document)
    assert document["openapi"].startswith("3.")


def test_the_export_command_writes_the_document(tmp_path):
    target = tmp_path / "nested" / "openapi.json"
    completed = subprocess.run(
        [sys.executable, "-m", "blockhook.api.openapi_export", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": f"{REPO_ROOT / 'layers/shared/python'}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    assert target.read_text() == render()


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["--help"]])
def test_the_export_command_wants_one_path(argv, capsys):
    assert main(argv) == 2
    assert "usage" in capsys.readouterr().err


def test_the_api_serves_the_committed_document(monkeypatch):
    from blockhook.config import settings

    monkeypatch.setenv("BLOCKHOOK_API_KEYS", "openapi-doc-key")
    monkeypatch.delenv("BLOCKHOOK_API_KEY", raising=False)
    monkeypatch.delenv("BLOCKHOOK_AUTH_MODE", raising=False)
    settings.cache_clear()
    try:
        function = LocalFunction("api", timeout_seconds=30)
        event = api_event("GET", "/v1/openapi.json", {"x-api-key": "openapi-doc-key"})
        answer = function.invoke(event)
    finally:
        settings.cache_clear()
    assert answer["statusCode"] == 200, answer.get("body")
    assert json.loads(answer["body"]) == json.loads(COMMITTED.read_text())


def test_the_document_does_not_depend_on_the_environment(tmp_path):
    """Generated elsewhere (other keys, cloud auth, other limits), the document is the same file."""
    target = tmp_path / "openapi.json"
    env = {
        "PYTHONPATH": f"{REPO_ROOT / 'layers/shared/python'}:{REPO_ROOT}",
        "PATH": "/usr/bin:/bin",
        "BLOCKHOOK_AUTH_MODE": "apigateway",
        "BLOCKHOOK_MODE": "cloud",
        "BLOCKHOOK_API_KEYS": "x,y",
        "BLOCKHOOK_RATE_LIMIT": "3",
        "BLOCKHOOK_MAX_MONITORS_PER_TENANT": "7",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "blockhook.api.openapi_export", str(target)],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert target.read_text() == render()
