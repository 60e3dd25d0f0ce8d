"""The whole local stack as `make up` runs it (`python -m blockhook.local`), as a subprocess on free ports.

    with running_stack(state_dir, extra_env={"BLOCKHOOK_CHAINS_FILE": str(path)}) as stack:
        stack.call("POST", "/monitors", json={...})

With BLOCKHOOK_RPC_URL or BLOCKHOOK_CHAINS_FILE in `extra_env` the stack starts no Anvil
of its own (CONTRACT section 1); otherwise it embeds one on a free port, at `stack.rpc`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from blockhook.local.servers import REPO_ROOT, free_port

API_KEY = "e2e-key"

# Settings of the caller's shell that would point the stack elsewhere than the test means.
_INHERITED = ("AWS_ENDPOINT_URL", "BLOCKHOOK_RPC_URL", "BLOCKHOOK_KAFKA_BOOTSTRAP", "BLOCKHOOK_CHAINS",
              "BLOCKHOOK_CHAINS_FILE", "BLOCKHOOK_API_KEYS",
              "BLOCKHOOK_SECRETS_KEY_ID")  # a key of the test session's moto server, unknown to the stack's  # fmt: skip


class LocalStack:
    def __init__(
        self, state_dir: Path, extra_env: Mapping[str, str] | None = None, api_key: str = API_KEY,
        output: Path | None = None,
    ) -> None:
        """Start the stack; `extra_env` is added last, so it may override any default set here. Its console
        goes to `output` (default: stack.out in the state directory)."""
        extra = dict(extra_env or {})
        self.api_key = api_key
        self.api_port, self.kafka_port, self.aws_port = free_port(), free_port(), free_port()
        self.embeds_anvil = not (extra.get("BLOCKHOOK_RPC_URL") or extra.get("BLOCKHOOK_CHAINS_FILE"))
        self.anvil_port = free_port() if self.embeds_anvil else None
        env = {key: value for key, value in os.environ.items() if key not in _INHERITED}
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "layers/shared/python"), str(REPO_ROOT)]),
                "BLOCKHOOK_API_PORT": str(self.api_port),
                "BLOCKHOOK_KAFKA_PORT": str(self.kafka_port),
                "BLOCKHOOK_AWS_PORT": str(self.aws_port),
                "BLOCKHOOK_STATE_DIR": str(state_dir),
                "BLOCKHOOK_API_KEY": api_key,
                "BLOCKHOOK_RETRY_SCHEDULE": "1,2,4",
            }
        )
        if self.anvil_port is not None:
            env["BLOCKHOOK_ANVIL_PORT"] = str(self.anvil_port)
        env.update(extra)
        self.output_path = output or state_dir / "stack.out"
        self.log = open(self.output_path, "w")  # noqa: SIM115 - open for the process's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", "blockhook.local"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.api = f"http://127.0.0.1:{self.api_port}/v1"
        # The embedded node, or the one node given; None with a chains file (the test knows its nodes).
        self.rpc: str | None = (
            f"http://127.0.0.1:{self.anvil_port}" if self.embeds_anvil else extra.get("BLOCKHOOK_RPC_URL")
        )
        self.state_dir = state_dir

    def output(self) -> str:
        return self.output_path.read_text()

    def children(self) -> set[int]:
        """The process ids of the servers the stack runs (its child processes)."""
        return child_pids(self.process.pid)

    def wait_ready(self, timeout: float = 90) -> None:
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.api}/health", timeout=1).json() == {"status": "ok"}:
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"local stack not ready:\n{self.output()}")

    def stop(self, signal_number: int = signal.SIGTERM) -> None:
        self.process.send_signal(signal_number)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()

    def call(self, method: str, path: str, timeout: float = 30, **kwargs) -> requests.Response:
        return requests.request(
            method, self.api + path, headers={"x-api-key": self.api_key}, timeout=timeout, **kwargs
        )

    def create_monitor(self, body: dict) -> dict:
        """POST /v1/monitors; the created monitor (with its secret), or AssertionError with the answer."""
        answer = self.call("POST", "/monitors", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def chains(self) -> dict[int, dict]:
        """GET /v1/chains, by chain id."""
        answer = self.call("GET", "/chains")
        assert answer.status_code == 200, answer.text
        return {item["chain_id"]: item for item in answer.json()["items"]}

    def wait_processed(self, chain_id: int, block_number: int, timeout: float = 60) -> dict:
        """Wait until the matcher has processed `block_number` of `chain_id`; return that chain's status."""
        give_up = time.monotonic() + timeout
        while True:
            status = self.chains().get(chain_id)
            processed = None if status is None else status.get("last_processed")
            if processed is not None and processed >= block_number:
                return status
            if time.monotonic() > give_up or self.process.poll() is not None:
                raise AssertionError(
                    f"chain {chain_id}: block {block_number} not processed within {timeout}s "
                    f"(GET /v1/chains: {status})"
                )
            time.sleep(0.2)


def child_pids(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def running_stack(
    state_dir: Path, extra_env: Mapping[str, str] | None = None, api_key: str = API_KEY,
    output: Path | None = None,
) -> Iterator[LocalStack]:
    """A ready stack for the `with` block; stopped after it, which must end it cleanly (exit code 0)."""
    stack = LocalStack(state_dir, extra_env, api_key, output)
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
    assert stack.process.returncode == 0, f"the stack did not stop cleanly on SIGTERM:\n{stack.output()}"
