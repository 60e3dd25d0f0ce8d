"""What every benchmark shares: paths, the machine, results files, servers on free ports."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT / "layers" / "shared" / "python"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# BLOCKHOOK_BENCH_RESULTS: elsewhere (run.py --quick writes there, not over the real figures).
RESULTS = Path(os.environ.get("BLOCKHOOK_BENCH_RESULTS") or ROOT / "bench" / "results")

# Fake credentials and a discard endpoint until a benchmark starts its own moto server.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "blockhook")
for _variable in ("BLOCKHOOK_RPC_URL", "BLOCKHOOK_CHAINS_FILE", "BLOCKHOOK_CHAINS", "AWS_PROFILE"):
    os.environ.pop(_variable, None)


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def write_result(name: str, result: dict) -> Path:
    """bench/results/<name>.json, with the machine and the time of the run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"benchmark": name, "machine": machine(), "ran_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **result}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def relative(path: Path) -> str:
    """A results file as the results JSON names it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """The local stack's moto server (blockhook.local.aws_server) with every blockhook table, as this
    process's AWS endpoint."""
    from blockhook.local import servers

    server = servers.moto(servers.free_port(), log_path=log_dir / "moto.log").start()
    os.environ["AWS_ENDPOINT_URL"] = server.url
    from blockhook.store.models import create_tables
    from blockhook.store.secret_box import ensure_local_key

    try:
        create_tables()
        os.environ["BLOCKHOOK_SECRETS_KEY_ID"] = ensure_local_key()
        yield server.url
    finally:
        server.stop()


@contextmanager
def tansu_server(log_dir: Path) -> Iterator[str]:
    from blockhook.local import servers

    server = servers.tansu(servers.free_port(), log_path=log_dir / "tansu.log").start()
    try:
        yield f"{servers.HOST}:{server.port}"
    finally:
        server.stop()


class AwsCallCounter:
    """Counts every AWS API call (one HTTP round trip each) made by botocore in this process, by
    service and operation: `with AwsCallCounter() as calls: ...; calls.total("dynamodb")`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._original = None

    def __enter__(self) -> AwsCallCounter:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self.calls

        def counting(client, operation_name, api_params):
            counter[f"{client.meta.service_model.service_name}.{operation_name}"] += 1
            return original(client, operation_name, api_params)

        self._original = original
        BaseClient._make_api_call = counting
        return self

    def __exit__(self, *exc_info) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original

    def reset(self) -> None:
        self.calls.clear()

    def total(self, service: str) -> int:
        return sum(count for name, count in self.calls.items() if name.startswith(service + "."))
