"""The web console's files as the console function serves them: `/console` and everything under it.

The console is a static single-page app (built by `make console` into build/console/); it calls the
REST API under /v1 with the key its user types, so nothing here knows a key or a tenant. Every answer
carries a Content-Security-Policy that allows only the console's own files and calls to its own origin:
no inline script, no inline style, no other host, no framing.

Only the files found under the root when the site is made are served (a path never reaches the file
system), and only text types: API Gateway's REST proxy passes them without a binary media type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "/console"
INDEX = "index.html"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class _File:
    body: bytes
    content_type: str
    etag: str


class Site:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._files = _read_files(root)

    @property
    def built(self) -> bool:
        return INDEX in self._files

    def answer(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        """The answer to `method` on `path` (the request's path without the stage, e.g. /console/app.js)."""
        if method not in _METHODS:
            return _error(405, "method_not_allowed", f"{method} is not allowed here", Allow=", ".join(_METHODS))
        if path == PREFIX:
            # Relative, so that it stays under the stage prefix in the cloud (/prod/console -> /prod/console/).
            return Answer(301, {**SECURITY_HEADERS, "Location": "console/"})
        if not path.startswith(PREFIX + "/"):
            return _error(404, "not_found", f"no such page: {path}")
        if not self.built:
            return _error(503, "console_not_built", f"the console has not been built into {self.root}: run `make console`")
        name = path[len(PREFIX) + 1 :] or INDEX
        file = self._files.get(name)
        if file is None:
            return _error(404, "not_found", f"no such file in the console: {name}")
        reply = {**SECURITY_HEADERS, "Content-Type": file.content_type, "ETag": file.etag, "Cache-Control": "no-cache"}
        if _header(headers, "if-none-match") == file.etag:
            return Answer(304, reply)
        return Answer(200, reply, b"" if method == "HEAD" else file.body)


def _read_files(root: Path) -> dict[str, _File]:
    if not root.is_dir():
        return {}
    files = {}
    for path in sorted(root.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        files[path.relative_to(root).as_posix()] = _File(body, content_type, etag)
    return files


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def _error(status: int, code: str, message: str, **extra: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    return Answer(status, {**SECURITY_HEADERS, "Content-Type": "application/json", **extra}, body)
