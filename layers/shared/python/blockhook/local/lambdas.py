"""Load the Lambda handlers from functions/ and call them as Lambda would.

The local stack calls the very handlers that are deployed, with the event shapes AWS
sends them. One lock per function: like a Lambda instance, a handler serves one event
at a time (powertools' resolver keeps the current event on the app object).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blockhook.local.servers import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "functions"
# The service name of the function whose invocation this code runs in (None outside any): the local
# stack's log lines and output go by it (local/console.py).
current_function: ContextVar[str | None] = ContextVar("current_function", default=None)


@dataclass
class LocalContext:
    """The parts of the Lambda context object that handlers and powertools read."""

    function_name: str
    timeout_seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        if self.stop.is_set():
            return 0  # shutting down: let the handler wind up as if its time ran out
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


class LocalFunction:
    def __init__(self, name: str, timeout_seconds: float, functions_dir: Path = FUNCTIONS_DIR) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.service = os.environ.get("POWERTOOLS_SERVICE_NAME") or f"blockhook-{name}"
        self._handler = _load_handler(functions_dir / name / "handler.py", name)
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any], stop: threading.Event | None = None) -> Any:
        context = LocalContext(f"blockhook-{self.name}", self.timeout_seconds, stop or threading.Event())
        with self._lock:
            token = current_function.set(self.service)
            try:
                return self._handler(event, context)
            finally:
                current_function.reset(token)


def _load_handler(path: Path, name: str) -> Callable[[dict[str, Any], Any], Any]:
    spec = importlib.util.spec_from_file_location(f"blockhook_function_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no Lambda handler at {path}")
    module = importlib.util.module_from_spec(spec)
    # Each function's powertools Logger under its own service name, as in the cloud (unless the caller
    # chose one): otherwise the four handlers of one process share one logger and label each other's lines.
    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    os.environ["POWERTOOLS_SERVICE_NAME"] = service or f"blockhook-{name}"
    try:
        spec.loader.exec_module(module)
    finally:
        if service is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = service
    return module.handler
