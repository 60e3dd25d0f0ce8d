"""The README points only at files that are in the repository: its links, and the repository paths it
names (`docs/events.md`, `bench/moto_indexed.py`, ...), in its text and its code blocks alike. Its
example of an address change is the one docs/openapi.json documents (which a test sends to the API)."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess

from blockhook.local.servers import REPO_ROOT
from tests.support.openapi import document

README = REPO_ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path starting at a top-level directory of the repository: `docs/events.md`, `bench/results/*.json`.
PATH = re.compile(r"(?<![\w./$-])((?:[\w.-]+/)+[\w.*<>-]*)")


def tracked_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(listed.stdout.splitlines())


def _points_at_something(path: str, files: set[str]) -> bool:
    path = path.rstrip("/")
    if "<" in path:  # a placeholder: functions/<name>/handler.py
        pattern = re.sub(r"<[^>]*>", "*", path)
        return any(fnmatch.fnmatch(name, pattern) for name in files)
    return (
        path in files
        or any(name.startswith(path + "/") for name in files)
        or ("*" in path and any(fnmatch.fnmatch(name, path) for name in files))
    )


def test_every_link_and_repository_path_of_the_readme_exists():
    files = tracked_files()
    text = README.read_text(encoding="utf-8")
    top_level = {name.split("/", 1)[0] for name in files if "/" in name}
    links = [target.split("#", 1)[0] for target in LINK.findall(text) if not re.match(r"[a-z]+:|#", target)]
    paths = [path for path in PATH.findall(text) if path.split("/", 1)[0] in top_level]
    assert "docs/openapi.json" in links and "docs/events.md" in links
    assert len(paths) > 10  # the pattern finds the paths the README names
    missing = sorted({path for path in links + paths if not _points_at_something(path, files)})
    assert missing == [], f"the README points at files not in the repository: {missing}"


def test_the_readmes_address_change_is_the_documented_example():
    text = README.read_text(encoding="utf-8")
    call = re.search(r"-X POST \S*/v1/monitors/\$MONITOR_ID/addresses.*?-d '(\{.*?\})'", text, re.DOTALL)
    assert call, "the README shows no POST /v1/monitors/{id}/addresses"
    operation = document()["paths"]["/v1/monitors/{monitor_id}/addresses"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert json.loads(call.group(1)) in [example["value"] for example in examples.values()]
