"""The web console's files as the console function serves them: only built text files under /console,
each with the Content-Security-Policy, and clear answers for everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockhook.console_site import CONTENT_SECURITY_POLICY, Site


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text('<!doctype html><script type="module" src="app.js"></script>')
    (tmp_path / "app.js").write_text("export const answer = 42;")
    (tmp_path / "app.css").write_text("body { margin: 0 }")
    (tmp_path / "notes.py").write_text("secret = 'not served'")
    return tmp_path


def error_code(answer) -> str:
    return json.loads(answer.body)["error"]["code"]


def test_the_page_and_its_files_with_the_policy(built: Path) -> None:
    site = Site(built)
    index = site.answer("GET", "/console/")
    assert index.status == 200
    assert index.body.startswith(b"<!doctype html>")
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    script = site.answer("GET", "/console/app.js")
    assert (script.status, script.body) == (200, b"export const answer = 42;")
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    for answer in (index, script, site.answer("GET", "/console/app.css")):
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self';" in CONTENT_SECURITY_POLICY


def test_the_bare_path_redirects_relatively_so_a_stage_prefix_stays(built: Path) -> None:
    answer = Site(built).answer("GET", "/console")
    assert (answer.status, answer.headers["Location"]) == (301, "console/")


@pytest.mark.parametrize(
    "path", ["/console/missing.js", "/console/notes.py", "/console/../secrets", "/console/%2e%2e/x", "/v1/monitors", "/"]
)
def test_anything_else_is_not_found(built: Path, path: str) -> None:
    answer = Site(built).answer("GET", path)
    assert answer.status == 404 and error_code(answer) == "not_found"


def test_only_get_and_head(built: Path) -> None:
    site = Site(built)
    post = site.answer("POST", "/console/")
    assert post.status == 405 and post.headers["Allow"] == "GET, HEAD"
    head = site.answer("HEAD", "/console/app.js")
    assert head.status == 200 and head.body == b"" and head.headers["ETag"]


def test_an_unchanged_file_answers_304(built: Path) -> None:
    site = Site(built)
    etag = site.answer("GET", "/console/app.js").headers["ETag"]
    again = site.answer("GET", "/console/app.js", {"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert site.answer("GET", "/console/app.js", {"if-none-match": '"other"'}).status == 200


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    answer = Site(tmp_path / "nothing").answer("GET", "/console/")
    assert answer.status == 503 and error_code(answer) == "console_not_built"
    assert "make console" in json.loads(answer.body)["error"]["message"]
