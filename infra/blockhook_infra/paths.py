"""Where the app finds the code it deploys: the repository's own folders, never the cwd."""

from __future__ import annotations

from pathlib import Path

from .deps_layer import LAMBDA_PYTHON

REPO_ROOT = Path(__file__).resolve().parents[2]

FUNCTION_NAMES = ("api", "ingest", "matcher", "deliver")

# Left out of every asset: byte code of any Python but the runtime's, which reads only its own (the
# build machine's tests write theirs beside the sources). The runtime's own, which `make layers`
# compiles into the dependency layer where a python3.12 is installed, stays in.
LAMBDA_CACHE_TAG = "cpython-" + LAMBDA_PYTHON.replace(".", "")
ASSET_EXCLUDES = ["**/*.pyc", f"!**/*.{LAMBDA_CACHE_TAG}.pyc", ".built"]


class MissingBuildError(RuntimeError):
    """A folder the stack deploys has not been built or does not exist."""


def deps_layer_dir(root: Path = REPO_ROOT) -> Path:
    """The dependency layer's folder (it holds python/...), built by `make layers`."""
    layer = root / "build" / "layers" / "deps"
    if not (layer / "python").is_dir():
        raise MissingBuildError(
            f"{layer / 'python'} does not exist: run `make layers` first "
            "(it pip-installs the runtime dependencies for python3.12 on x86_64 into the Lambda layer)"
        )
    return layer


def shared_layer_dir(root: Path = REPO_ROOT) -> Path:
    """The shared domain package's layer folder (python/blockhook/...)."""
    layer = root / "layers" / "shared"
    if not (layer / "python" / "blockhook").is_dir():
        raise MissingBuildError(
            f"{layer / 'python' / 'blockhook'} does not exist: the shared layer is missing"
        )
    return layer


def function_dir(name: str, root: Path = REPO_ROOT) -> Path:
    """A function's code folder (handler.py with `handler(event, context)`)."""
    folder = root / "functions" / name
    if not folder.is_dir():
        raise MissingBuildError(f"{folder} does not exist: function {name!r} has no code folder")
    return folder


def console_site_dir(root: Path = REPO_ROOT) -> Path:
    """The web console's built files (index.html, app.js, app.css), built by `make console`."""
    site = root / "build" / "console"
    if not (site / "index.html").is_file():
        raise MissingBuildError(f"{site / 'index.html'} does not exist: run `make console` first (it builds the web console)")
    return site
