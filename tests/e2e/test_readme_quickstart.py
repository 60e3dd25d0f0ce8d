"""The README's quick start, run as written against the stack `make up` runs: its second terminal's
commands (receiver, monitor, transfer) must end in a webhook the receiver verified.

Only the ports change (the stack here runs on free ones); the commands, the receiver's code and the
API key are the README's own, so a quick start that stops working fails this test.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from blockhook.local.servers import REPO_ROOT, free_port
from tests.support.local_stack import running_stack

pytestmark = pytest.mark.e2e

README_KEY = "local-dev-key"
VERIFIED = re.compile(
    r"verified dlv_[0-9a-f]{32} native_transfer 0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266 -> "
    r"0x70997970c51812dc3a010c7d01b50e0d17dc79c8 1000000000000000000 "
    r"\{'0x70997970c51812dc3a010c7d01b50e0d17dc79c8': 'customer-42'\}"
)


def quick_start_commands() -> str:
    """The shell block of the quick start that a user pastes into the second terminal."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2 and blocks[0].startswith("make up"), blocks
    return blocks[1]


def test_the_readme_quick_start_ends_in_a_verified_webhook(tmp_path: Path):
    script = quick_start_commands()
    receiver_port = free_port()
    (tmp_path / "stack").mkdir()
    with running_stack(tmp_path / "stack", api_key=README_KEY) as stack:
        anvil_port = stack.rpc.rsplit(":", 1)[1]
        for old, new in (("127.0.0.1:8080", f"127.0.0.1:{stack.api_port}"), ("127.0.0.1:8545", f"127.0.0.1:{anvil_port}"),
                         ("127.0.0.1:9000", f"127.0.0.1:{receiver_port}"), ('"127.0.0.1", 9000', f'"127.0.0.1", {receiver_port}')):  # fmt: skip
            assert old in script, old
            script = script.replace(old, new)
        # `wait` keeps the shell (and the receiver it started in the background) alive until killed.
        shell = subprocess.Popen(
            ["bash", "-c", script + "\nwait\n"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        lines: list[str] = []
        try:
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up and not any(VERIFIED.fullmatch(line) for line in lines):
                ready, _, _ = select.select([shell.stdout], [], [], 0.5)
                line = shell.stdout.readline() if ready else None
                if line == "":
                    break  # the shell ended
                if line:
                    lines.append(line.rstrip("\n"))
        finally:
            os.killpg(shell.pid, signal.SIGTERM)
            shell.wait(timeout=10)
        stack_output = stack.output()
    assert any(VERIFIED.fullmatch(line) for line in lines), "\n".join(lines) + "\n" + stack_output
    assert not any("does not verify" in line for line in lines), "\n".join(lines)
