"""Cold start of each function on a replica of the Lambda layout, and the sizes of the two layers.

The deployed dependency layer is built for python3.12, whose compiled extensions this machine's Python
cannot load, so the replica is the same requirements.txt pip-installed for this interpreter's version
with the layer's platform options (manylinux2014_x86_64, binary wheels only), pruned as `make layers`
prunes the real one (infra/blockhook_infra/deps_layer.py). It is laid out as Lambda lays out a
function: /opt/python holds the dependency layer and the shared layer's python/ folder, /var/task the
function's folder, and sys.path is /var/task then /opt/python, as Lambda's python runtime puts them.
Nothing else is on the path (`python -S`: no site-packages) and no byte code is written or found
(`-B`, no __pycache__ in the copies), as in the shipped layers, which hold none.

Each run is a fresh interpreter that imports handler.py as Lambda does, then builds what the
function's first event builds (blockhook.wiring), with the environment the stack gives the function
(tables, queue, chains; tracing on, as with active tracing). No AWS call and no network: the ingest
function's Kafka producer would dial the brokers, so it is handed a stand-in that records its options.
Reported per function: the median of --runs runs of the import and of the wiring, and, from one more
run under `-X importtime`, the top-level packages that took longest to import (self time, summed).

The layer sizes are those of the real build/layers/deps (`make layers`: python3.12, as deployed) and of
layers/shared, as the assets hold them (without __pycache__ and *.pyc, infra/blockhook_infra/paths.py),
unzipped and zipped (deflate).

    .venv/bin/python bench/cold_start.py [--runs 5] [--no-prune] [--bytecode] [--repo DIR] [--name NAME]

--repo measures another checkout (its requirements.txt, functions/ and layers/shared/), e.g. an export
of an earlier commit, for a before/after comparison; --no-prune skips the prune; --bytecode compiles the
replica's deps layer first (checked-hash, with this interpreter, as `make layers` does with a python3.12
where one is installed; the shared layer and the functions stay source), to show what that saves.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(HERE))

from common import machine, write_result  # noqa: E402

FUNCTIONS = ("api", "ingest", "matcher", "deliver")
LAMBDA_PLATFORM = "manylinux2014_x86_64"  # as the Makefile's `layers`
REGION, ACCOUNT = "us-east-1", "123456789012"
CHAINS = [{"chain_id": 1, "name": "ethereum", "rpc_urls": ["https://ethereum-rpc.replace-me.invalid"],
           "confirmations": 12, "poll_interval": 12, "max_blocks_per_batch": 10}]

# What a fresh interpreter runs: argv = name, task, opt. Prints one JSON line.
PROBE = r"""
import sys, time
name, task, opt = sys.argv[1:4]
sys.path[:0] = [task, opt]
started, started_cpu = time.perf_counter(), time.process_time()
import handler
imported, imported_cpu = time.perf_counter(), time.process_time()
assert callable(handler.handler)
from blockhook import wiring
if name == "ingest":
    # Constructing the real producer dials the brokers: record the options instead (no network).
    import blockhook.streaming.producer as producer

    class RecordingProducer:
        def __init__(self, **options):
            self.options = options

    producer.KafkaProducer = RecordingProducer

def api():
    from blockhook.chain.registry import load_chains  # the api checks a monitor's chains against them

    return wiring.delivery_service(), load_chains()


{
    "api": api,
    "ingest": lambda: (wiring.chain_ingests(), wiring.backfill_runner()),
    "matcher": lambda: wiring.match_service(),
    "deliver": lambda: wiring.delivery_service(),
}[name]()
wired, wired_cpu = time.perf_counter(), time.process_time()
import json
top = sorted({module.split(".")[0] for module in sys.modules})
print(json.dumps({"import_s": imported - started, "wiring_s": wired - imported,
                  "import_cpu_s": imported_cpu - started_cpu, "wiring_cpu_s": wired_cpu - imported_cpu,
                  "modules": len(sys.modules), "packages": top}))
"""


def lambda_environment(name: str, task: Path) -> dict[str, str]:
    """The function's environment as the stack sets it (infra/blockhook_infra/functions.py), with
    placeholder names, plus what Lambda itself sets. AWS calls would go to a closed local port."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_LAMBDA_FUNCTION_NAME": f"blockhook-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "BLOCKHOOK_MODE": "cloud",
        "BLOCKHOOK_MONITORS_TABLE": "monitors",
        "BLOCKHOOK_MONITOR_ADDRESSES_TABLE": "monitor-addresses",
        "BLOCKHOOK_ADDRESS_INDEX_TABLE": "address-index",
        "BLOCKHOOK_STATE_TABLE": "state",
        "BLOCKHOOK_DELIVERIES_TABLE": "deliveries",
        "BLOCKHOOK_MATCHES_TABLE": "matches",
        "BLOCKHOOK_DELIVERY_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/deliveries",
        "BLOCKHOOK_LARGE_OBJECTS_BUCKET": "large-objects",
        "POWERTOOLS_SERVICE_NAME": f"blockhook-{name}",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "blockhook",
    }
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    env.update({
        "api": {"BLOCKHOOK_AUTH_MODE": "apigateway", "BLOCKHOOK_CHAINS": json.dumps({"chains": CHAINS}),
                "BLOCKHOOK_IDEMPOTENCY_TABLE": "idempotency", "BLOCKHOOK_SECRETS_KEY_ID": key},
        "ingest": {"BLOCKHOOK_KAFKA_BOOTSTRAP": "b-1.blockhook.invalid:9098", "BLOCKHOOK_KAFKA_AUTH": "iam",
                   "BLOCKHOOK_KAFKA_TOPIC": "blocks", "BLOCKHOOK_CHAINS": json.dumps({"chains": CHAINS}),
                   "BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS": "15"},
        "matcher": {"BLOCKHOOK_CHAINS": json.dumps({"chains": CHAINS}), "BLOCKHOOK_SECRETS_KEY_ID": key},
        "deliver": {"BLOCKHOOK_SECRETS_KEY_ID": key},
    }[name])
    return env


def _no_bytecode(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def installed_deps(repo: Path, cache: Path) -> Path:
    """The repo's requirements.txt pip-installed for this interpreter with the layer's platform options
    (no byte code); kept in `cache` under a hash of the requirements, so later runs reuse it."""
    requirements = (repo / "requirements.txt").read_bytes()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(requirements + version.encode()).hexdigest()[:16]
    target = cache / f"deps-{version}-{key}"
    if (target / ".built").exists():
        return target / "python"
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
         str(target / "python"), "--platform", LAMBDA_PLATFORM, "--python-version", version,
         "--implementation", "cp", "--only-binary=:all:", "--no-compile", "-r", str(repo / "requirements.txt")],
        check=True,
    )
    (target / ".built").touch()
    return target / "python"


def lambda_layout(repo: Path, deps: Path, root: Path, *, prune: bool = True, bytecode: bool = False) -> Path:
    """/opt/python (the deps layer, pruned unless told not to, and the shared layer) and
    /var/task/<name> for each function, under `root`, without byte code unless `bytecode`: then the
    deps layer's alone, compiled by this interpreter as `make layers` compiles it. Returns root."""
    from infra.blockhook_infra import deps_layer

    opt = root / "opt" / "python"
    shutil.copytree(deps, opt, ignore=_no_bytecode)
    if prune:
        deps_layer.prune(opt)
    if bytecode:
        deps_layer.compile_bytecode(opt, sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}")
    shutil.copytree(repo / "layers" / "shared" / "python", opt, ignore=_no_bytecode, dirs_exist_ok=True)
    for name in FUNCTIONS:
        shutil.copytree(repo / "functions" / name, root / "var" / "task" / name, ignore=_no_bytecode)
    return root


def run_probe(name: str, root: Path, *, importtime: bool = False) -> tuple[dict, str]:
    """One cold start of function `name` in the layout at `root`: its JSON line and its stderr."""
    task, opt = root / "var" / "task" / name, root / "opt" / "python"
    flags = ["-S", "-B", *(["-X", "importtime"] if importtime else [])]
    result = subprocess.run(
        [sys.executable, *flags, "-c", PROBE, name, str(task), str(opt)],
        env=lambda_environment(name, task), cwd=task, capture_output=True, text=True, timeout=300,
    )
    if result.returncode:
        raise RuntimeError(f"{name} did not start in the Lambda layout:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def slowest_packages(importtime: str, top: int = 8) -> dict[str, float]:
    """Seconds of import per top-level package (self times summed) from `-X importtime` output."""
    totals: dict[str, int] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:"):].split("|")
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0) + int(self_us)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    return {package: round(us / 1e6, 3) for package, us in ranked}


def folder_size(folder: Path) -> dict:
    """Bytes of a layer folder as its asset holds it (no __pycache__, *.pyc or .built), unzipped and
    zipped with deflate, and its file count."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
             and p.suffix != ".pyc" and p.name != ".built"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
    return {"path": str(folder), "files": len(files), "unzipped_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "zipped_mb": round(buffer.tell() / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per function (the median is reported)")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to measure")
    parser.add_argument("--no-prune", action="store_true", help="measure the dependency layer unpruned")
    parser.add_argument("--bytecode", action="store_true",
                        help="compile the replica's deps layer with this interpreter, as make layers does with "
                             "python3.12 where one is installed: what its byte code saves")
    parser.add_argument("--deps-layer", type=Path, default=REPO_ROOT / "build" / "layers" / "deps",
                        help="the real dependency layer whose size is reported (make layers)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "blockhook-cold-start",
                        help="where the pip-installed replica of the dependencies is kept between runs")
    parser.add_argument("--name", default="cold_start", help="the result's name: bench/results/<name>.json")
    options = parser.parse_args()
    repo = options.repo.resolve()

    began = time.monotonic()
    deps = installed_deps(repo, options.cache)
    installed = time.monotonic() - began
    with tempfile.TemporaryDirectory(prefix="blockhook-lambda-") as scratch:
        root = lambda_layout(repo, deps, Path(scratch), prune=not options.no_prune, bytecode=options.bytecode)
        replica = {"opt_python_mb": folder_size(root / "opt" / "python")["unzipped_mb"]}
        runs: dict[str, list[dict]] = {name: [] for name in FUNCTIONS}
        for _ in range(options.runs):  # interleaved: a slow moment of the machine hits every function
            for name in FUNCTIONS:
                runs[name].append(run_probe(name, root)[0])
        functions = {}
        for name in FUNCTIONS:
            def median(*keys: str, of: list[dict] = runs[name]) -> float:
                return round(statistics.median(sum(r[key] for key in keys) for r in of), 3)

            totals = [r["import_s"] + r["wiring_s"] for r in runs[name]]
            last, importtime = run_probe(name, root, importtime=True)
            functions[name] = {
                "import_handler_s": median("import_s"),
                "first_event_wiring_s": median("wiring_s"),
                "total_s": median("import_s", "wiring_s"),
                "total_s_min_max": [round(min(totals), 3), round(max(totals), 3)],
                # CPU time (user + system) of the same: what this shared machine's load changes least.
                "total_cpu_s": median("import_cpu_s", "wiring_cpu_s"),
                "modules_loaded": last["modules"],
                "slowest_packages_s": slowest_packages(importtime),
                "packages_loaded": last["packages"],
            }
            found = functions[name]
            print(f"{name:8} import {found['import_handler_s']:.3f} s + wiring {found['first_event_wiring_s']:.3f} s "
                  f"= {found['total_s']:.3f} s, CPU {found['total_cpu_s']:.3f} s (median of {options.runs}); "
                  f"slowest: {found['slowest_packages_s']}", flush=True)

    layers = {"shared": folder_size(repo / "layers" / "shared")}
    if (options.deps_layer / "python").is_dir():
        layers["deps"] = folder_size(options.deps_layer)
    result = {
        "what": "cold start on a replica of the Lambda layout: import handler.py, then build what the first "
                "event builds (blockhook.wiring); python -S -B, no byte code; median of the runs",
        "python": sys.version.split()[0],
        "runs": options.runs,
        "pruned": not options.no_prune,
        "bytecode": options.bytecode,
        "repo": str(repo),
        "functions": functions,
        "replica": replica,
        "layers": layers,
        "replica_install_s": round(installed, 1),
        "seconds": round(time.monotonic() - began, 1),
        "machine": machine(),
    }
    write_result(options.name, result)
    print(f"layers: {json.dumps(layers)}; {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
