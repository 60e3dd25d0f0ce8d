"""`cdk synth` through the CLI, the way `make synth` runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SYNTH = ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices"]


def cli_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT / 'layers' / 'shared' / 'python'}{os.pathsep}{REPO_ROOT}",
        "PATH": f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.mark.synth
@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_cdk_synth_cli_writes_the_template() -> None:
    template = REPO_ROOT / "cdk.out" / "BlockhookStack.template.json"
    template.unlink(missing_ok=True)  # a stale template from an earlier run must not pass
    env = cli_env()
    # The timeout only stops a hung CLI (e.g. one waiting on the network): synth takes 10-20 s on a quiet
    # machine (it stages the ~130 MB dependency layer), over a minute on a busy one.
    result = subprocess.run(SYNTH, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert template.is_file()
    resources = json.loads(template.read_text())["Resources"]
    assert any(r["Type"] == "AWS::MSK::ServerlessCluster" for r in resources.values())


@pytest.mark.synth
@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_cdk_synth_with_a_prefix_names_the_stack_after_it(tmp_path: Path) -> None:
    """`-c prefix=staging`: the stack `cdk deploy` is given is staging-BlockhookStack, beside BlockhookStack."""
    env = cli_env()
    command = [*SYNTH, "-c", "prefix=staging", "--output", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in tmp_path.glob("*.template.json")] == ["staging-BlockhookStack.template.json"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    artifact = manifest["artifacts"]["staging-BlockhookStack"]  # what `cdk deploy staging-BlockhookStack` selects
    # The manifest names the stack only where it differs from the artifact's id.
    assert artifact["properties"].get("stackName", "staging-BlockhookStack") == "staging-BlockhookStack"


@pytest.mark.synth
@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_cdk_synth_refuses_a_bad_prefix_in_one_line(tmp_path: Path) -> None:
    env = cli_env()
    command = [*SYNTH, "-c", "prefix=Staging_1", "--output", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "blockhook synth: CDK context `prefix` 'Staging_1'" in result.stderr
