"""The dependency layer after pip has installed it: what it leaves out, and its byte code.

`make layers` runs this on build/layers/deps/python. Prune: each entry says why nothing of the runtime
needs it; tests/infra/test_infra_layer.py imports every handler and builds its services from a copy of
the pruned layer, so an entry that is wrong fails there. Byte code: only an interpreter of the Lambda
runtime's own version can write byte code that runtime reads (the cache tag, cpython-312, names the
version), so the layer gets it only where one is installed (--bytecode-python, e.g. python3.12 in CI);
otherwise every cold start compiles what it imports from source. The files are checked-hash .pyc:
Python uses one only while its source's hash still matches, whatever the file times in the zip are.

    python infra/blockhook_infra/deps_layer.py build/layers/deps/python [--bytecode-python python3.12]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The Lambda runtime's Python (infra/blockhook_infra/functions.py: RUNTIME), whose byte code the layer holds.
LAMBDA_PYTHON = "3.12"

_CEL_CLI = (
    "CEL's command line (cel/cli.py, a REPL with pretty output): the functions load CEL's compiled core "
    "alone (blockhook/matching/conditions.py), never cel/__init__.py, which imports the command line"
)

# Distributions (as pip names them) -> why the runtime never imports them.
PRUNED_DISTRIBUTIONS: dict[str, str] = {
    "typer": _CEL_CLI,
    "rich": _CEL_CLI,
    "prompt-toolkit": _CEL_CLI,
    "pygments": _CEL_CLI,
    "wcwidth": f"prompt_toolkit's; {_CEL_CLI}",
    "markdown-it-py": f"rich's; {_CEL_CLI}",
    "mdurl": f"markdown-it-py's; {_CEL_CLI}",
    "shellingham": f"typer's; {_CEL_CLI}",
    "annotated-doc": f"typer's; {_CEL_CLI}",
    "click": (
        "typer's, and the command line of the MSK IAM signer (aws_msk_iam_sasl_signer/cli.py); the signer's "
        "token provider (streaming/kafka_config.py) does not import it"
    ),
}

# Folders of the layer's python/ -> why.
PRUNED_PATHS: dict[str, str] = {
    "bin": "the packages' console scripts: nothing runs a command in a function",
    "docs": "eth-abi's documentation sources, which its wheel installs as a top-level folder",
}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_infos(python: Path) -> dict[str, Path]:
    """Each installed distribution's normalized name -> its .dist-info folder."""
    found = {}
    for info in python.glob("*.dist-info"):
        for line in (info / "METADATA").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Name:"):
                found[_normalized(line.split(":", 1)[1].strip())] = info
                break
    return found


def pruned_files(python: Path) -> set[Path]:
    """Every file of `python` (a layer's python/ folder) the prune removes."""
    python = python.resolve()
    doomed: set[Path] = set()
    infos = _dist_infos(python)
    for name in PRUNED_DISTRIBUTIONS:
        info = infos.get(_normalized(name))
        if info is None:
            continue  # not pulled in (any more): nothing to remove
        for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
            path = line.rsplit(",", 2)[0]
            # Entries outside python/ (../../bin/...) are console scripts, which PRUNED_PATHS removes.
            if path and not path.startswith(".."):
                doomed.add(python / path)
        doomed.update(p for p in info.rglob("*") if p.is_file())
    for folder in PRUNED_PATHS:
        if (python / folder).is_dir():
            doomed.update(p for p in (python / folder).rglob("*") if p.is_file())
    return {path for path in doomed if path.is_file()}


def prune(python: Path) -> int:
    """Remove what the runtime never imports from a pip-installed layer folder; return the bytes freed."""
    python = python.resolve()
    doomed = pruned_files(python)
    freed = sum(path.stat().st_size for path in doomed)
    for path in doomed:
        path.unlink()
    # The folders left empty (a package's own, its __pycache__ included), deepest first.
    for folder in sorted({p.parent for p in doomed}, key=lambda p: len(p.parts), reverse=True):
        while folder != python and folder.is_dir():
            leftovers = [p for p in folder.iterdir() if p.name != "__pycache__"]
            if leftovers:
                break
            shutil.rmtree(folder)
            folder = folder.parent
    return freed


def compile_bytecode(folder: Path, interpreter: str, version: str = LAMBDA_PYTHON) -> str:
    """Byte code for every module under `folder`, written by `interpreter`, which must be Python
    `version`; checked-hash, so a stale file is ignored rather than trusted. Returns its cache tag."""
    found = subprocess.run(
        [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.cache_tag)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    if found[0] != version:
        raise ValueError(f"{interpreter} is Python {found[0]}, not {version}: its byte code would never be read")
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash", str(folder)],
        check=True,
    )
    return found[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prune a pip-installed layer folder and add its byte code.")
    parser.add_argument("folder", type=Path, help="the layer's python/ folder pip installed into")
    parser.add_argument("--bytecode-python", default="",
                        help=f"a Python {LAMBDA_PYTHON} interpreter to compile the layer with (none: no byte code)")
    options = parser.parse_args(argv)
    if not options.folder.is_dir():
        parser.error(f"{options.folder} is not a folder")
    freed = prune(options.folder)
    print(f"deps layer: {freed / 1e6:.1f} MB of packages the functions never import removed")
    if options.bytecode_python:
        tag = compile_bytecode(options.folder, options.bytecode_python)
        print(f"deps layer: byte code compiled by {options.bytecode_python} ({tag}, checked-hash)")
    else:
        print(f"deps layer: no Python {LAMBDA_PYTHON} here, so no byte code: each cold start compiles what it "
              "imports (docs/deploy.md, Cold start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
