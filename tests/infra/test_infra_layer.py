"""The dependency layer as `make layers` leaves it: pruned of what no function imports, byte code kept.

The real layer is built for python3.12, whose compiled extensions this Python cannot load, so the
functions are started from a replica: requirements.txt pip-installed for this Python with the layer's
platform options, pruned by the same code, laid out as Lambda lays it out (bench/cold_start.py), and
imported with nothing else on the path (`python -S`). A pruned package a function needs fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import aws_cdk as cdk
import pytest

from infra.blockhook_infra import deps_layer
from infra.blockhook_infra.functions import RUNTIME
from infra.blockhook_infra.paths import ASSET_EXCLUDES, LAMBDA_CACHE_TAG

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import cold_start  # noqa: E402

# Top-level modules of the pruned distributions, and of packages a function must not load.
PRUNED_MODULES = {"typer", "rich", "prompt_toolkit", "pygments", "wcwidth", "markdown_it", "mdurl", "shellingham",
                  "annotated_doc", "click"}
NOT_LOADED = {
    "api": {"kafka", "web3"},
    "ingest": {"cel", "eth_abi", "web3"},
    "matcher": {"kafka", "web3"},
    "deliver": {"kafka", "cel", "eth_abi", "eth_utils", "web3"},
}


@pytest.fixture(scope="module")
def installed() -> Path:
    """requirements.txt pip-installed as the layer is, for this Python (kept between runs, as the bench keeps it)."""
    return cold_start.installed_deps(REPO_ROOT, Path(tempfile.gettempdir()) / "blockhook-cold-start")


@pytest.fixture(scope="module")
def layout(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cold_start.lambda_layout(REPO_ROOT, installed, tmp_path_factory.mktemp("lambda"))


def _distributions(python: Path) -> set[str]:
    return set(deps_layer._dist_infos(python))


def test_the_prune_removes_exactly_the_listed_distributions_and_folders(installed: Path, layout: Path) -> None:
    before, after = _distributions(installed), _distributions(layout / "opt" / "python")
    listed = {deps_layer._normalized(name) for name in deps_layer.PRUNED_DISTRIBUTIONS}
    assert listed <= before, f"listed but not pulled in any more, drop them from the list: {listed - before}"
    assert before - after == listed
    for module in PRUNED_MODULES:
        assert not (layout / "opt" / "python" / module).exists(), module
    for folder in deps_layer.PRUNED_PATHS:
        assert (installed / folder).exists() and not (layout / "opt" / "python" / folder).exists(), folder


@pytest.mark.parametrize("name", cold_start.FUNCTIONS)
def test_each_function_starts_from_the_pruned_layer(layout: Path, name: str) -> None:
    # Imports handler.py and builds what its first event builds, from /var/task and /opt/python alone.
    found, _ = cold_start.run_probe(name, layout)
    loaded = set(found["packages"])
    assert not loaded & PRUNED_MODULES
    assert not loaded & NOT_LOADED[name], f"{name} loads what it never uses: {loaded & NOT_LOADED[name]}"
    assert "blockhook" in loaded and "aws_lambda_powertools" in loaded


def test_conditions_compile_without_the_cel_package_init(layout: Path) -> None:
    # CEL's compiled core compiles and evaluates with its command line's packages gone.
    code = ("import sys; sys.path[:0] = [sys.argv[1]]\n"
            "from blockhook.matching.conditions import SAMPLE_EVENTS, compile_condition\n"
            "assert 'cel' not in sys.modules and 'cel.cel' in sys.modules\n"
            "condition = compile_condition('event.kind == \"transaction\"')\n"
            "print([condition.evaluate(event) for event in SAMPLE_EVENTS[:1]] == [SAMPLE_EVENTS[0]['kind'] == 'transaction'])")
    result = subprocess.run([sys.executable, "-S", "-B", "-c", code, str(layout / "opt" / "python")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "True"


COUNT_COMPILES = """
import sys, importlib._bootstrap_external as external
compiled = []
original = external.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = counting
sys.path[:0] = [sys.argv[1]]
import layered
print(len(compiled), layered.VALUE)
"""


def _start(folder: Path) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-S", "-B", "-c", COUNT_COMPILES, str(folder)],
                            capture_output=True, text=True, timeout=60, check=True)
    compiled, value = result.stdout.split()
    return int(compiled), value


def test_compiled_byte_code_is_read_from_a_read_only_layer_and_never_when_stale(tmp_path: Path) -> None:
    # What `make layers` does with a python3.12, done with this Python: the byte code is used from a
    # read-only folder whose file times are the zip's, not the build's; a stale file is ignored.
    layer = tmp_path / "python"
    layer.mkdir()
    source = layer / "layered.py"
    source.write_text("VALUE = 'built'\n")
    assert _start(layer) == (1, "built")  # no byte code: compiled at start
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    tag = deps_layer.compile_bytecode(layer, sys.executable, version)
    assert tag == sys.implementation.cache_tag
    assert (layer / "__pycache__" / f"layered.{tag}.pyc").is_file()
    os.utime(source, (315532800, 315532800))  # 1980-01-01, as a zip may carry it
    for path in (source, layer / "__pycache__" / f"layered.{tag}.pyc", layer / "__pycache__", layer):
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert _start(layer) == (0, "built")  # byte code read, nothing compiled
        source.chmod(source.stat().st_mode | stat.S_IWUSR)
        source.write_text("VALUE = 'edited'\n")
        assert _start(layer) == (1, "edited")  # stale byte code: the source wins
    finally:
        for path in (layer, layer / "__pycache__"):
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_byte_code_of_another_python_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="would never be read"):
        deps_layer.compile_bytecode(tmp_path, sys.executable, "2.7")


def test_assets_keep_the_runtimes_byte_code_only(tmp_path: Path) -> None:
    assert RUNTIME.name == f"python{deps_layer.LAMBDA_PYTHON}" and LAMBDA_CACHE_TAG == "cpython-312"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(rf"^LAMBDA_PYTHON := {re.escape(deps_layer.LAMBDA_PYTHON)}$", makefile, re.MULTILINE)
    source = tmp_path / "layer"
    (source / "python" / "pkg" / "__pycache__").mkdir(parents=True)
    for name in ("pkg/mod.py", "pkg/__pycache__/mod.cpython-312.pyc", "pkg/__pycache__/mod.cpython-311.pyc",
                 "stray.pyc", "../.built"):
        (source / "python" / name).write_text("x")
    # The asset's files, as CDK selects them with these excludes.
    cdk.FileSystem.copy_directory(str(source), str(tmp_path / "asset"), cdk.CopyOptions(exclude=ASSET_EXCLUDES))
    shipped = {p.relative_to(tmp_path / "asset").as_posix() for p in (tmp_path / "asset").rglob("*") if p.is_file()}
    assert shipped == {"python/pkg/mod.py", "python/pkg/__pycache__/mod.cpython-312.pyc"}


def test_the_prune_script_leaves_a_layer_without_byte_code_when_no_python_of_the_runtime(tmp_path: Path) -> None:
    layer = tmp_path / "python"
    shutil.copytree(REPO_ROOT / "layers" / "shared" / "python" / "blockhook" / "chain", layer / "chain",
                    ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run([sys.executable, str(REPO_ROOT / "infra" / "blockhook_infra" / "deps_layer.py"), str(layer),
                             "--bytecode-python", ""], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no byte code" in result.stdout
    assert not list(layer.rglob("*.pyc"))
