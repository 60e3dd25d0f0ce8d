"""What the dependency layer leaves out after pip has installed it: files the functions never import.

`make layers` runs this on build/layers/deps/python. Each entry says why nothing of the runtime needs it;
tests/infra/test_infra_layer.py imports every handler and builds its services from a copy of the pruned
layer, so an entry that is wrong fails there.

    python infra/blockhook_infra/layer_prune.py build/layers/deps/python
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

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


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit(f"usage: {sys.argv[0]} LAYER_PYTHON_DIR (a folder pip installed the layer's packages into)")
    freed_bytes = prune(Path(sys.argv[1]))
    print(f"layer prune: {freed_bytes / 1e6:.1f} MB of packages the functions never import removed")
