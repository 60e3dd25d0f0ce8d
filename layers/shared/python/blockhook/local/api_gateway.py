"""A local stand-in for API Gateway: HTTP requests to REST proxy events and back."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from blockhook.console_site import PREFIX as CONSOLE_PREFIX
from blockhook.local.lambdas import LocalFunction

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's own payload limit


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    text_body: str | None
    try:
        text_body, encoded = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text_body, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": "/local" + parts.path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "apiId": "local",
            "identity": {"sourceIp": source_ip, "apiKeyId": None},
        },
        "body": text_body,
        "isBase64Encoded": encoded,
    }


class ApiGatewayServer:
    def __init__(
        self, function: LocalFunction, port: int, host: str = "127.0.0.1", console: LocalFunction | None = None
    ) -> None:
        """`function` answers every path but the web console's (/console and under it), which `console` does."""
        self.function = function
        self.console = console
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="api-gateway", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> ApiGatewayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self):
        api, console = self.function, self.console

        def function_for(path: str) -> LocalFunction:
            if console is not None and (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
                return console
            return api

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                started = time.monotonic()
                function = function_for(urlsplit(self.path).path)
                status = self._answer(function)
                logger.info(
                    "api request",
                    extra={"service": function.service, "method": self.command, "path": urlsplit(self.path).path,
                           "status": status, "ms": round((time.monotonic() - started) * 1000),
                           "tenant": _tenant(self.headers)},
                )  # fmt: skip

            def _answer(self, function: LocalFunction) -> int:
                """Answer the request; returns the status code sent."""
                declared = (self.headers.get("Content-Length") or "0").strip()
                if not declared.isascii() or not declared.isdigit():
                    self.send_error(400, f"Content-Length is not a number of bytes: {declared[:40]!r}")
                    return 400
                length = int(declared)
                if length > MAX_REQUEST_BYTES:
                    self.close_connection = True  # the body stays unread
                    self._reply(413, {"content-type": "application/json"}, json.dumps(
                        {"error": {"code": "payload_too_large", "message": "request over 10 MB", "details": []}}
                    ).encode())
                    return 413
                body = self.rfile.read(length) if length else b""
                headers = {name: value for name, value in self.headers.items()}
                event = proxy_event(self.command, self.path, headers, body, self.client_address[0])
                try:
                    answer = function.invoke(event)
                except Exception:  # the real API Gateway answers 502 when the function fails
                    logger.exception("api function failed")
                    self._reply(502, {"content-type": "application/json"}, b'{"message": "Internal server error"}')
                    return 502
                payload = answer.get("body") or ""
                raw = base64.b64decode(payload) if answer.get("isBase64Encoded") else payload.encode()
                reply_headers = dict(answer.get("headers") or {})
                for name, values in (answer.get("multiValueHeaders") or {}).items():
                    reply_headers[name] = ", ".join(values)
                status = int(answer.get("statusCode", 200))
                self._reply(status, reply_headers, raw)
                return status

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in {"content-length", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def __getattr__(self, name: str) -> Any:
                # Every method goes to the function, as API Gateway's ANY method sends it: the API answers
                # a method a path does not take with 405, not http.server with its 501 page.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """What http.server refuses itself (a header or request line too long, a malformed
                request) in the API's error envelope, instead of its HTML page."""
                try:
                    status = HTTPStatus(code)
                    phrase, name = status.phrase, status.phrase.lower().replace(" ", "_").replace("-", "_")
                except ValueError:
                    phrase, name = "Error", "error"
                text = f"{phrase}: {message}" if message and message != phrase else phrase
                body = json.dumps({"error": {"code": name, "message": text, "details": []}}).encode()
                self.close_connection = True  # what is left of the request cannot be read as one
                # http.server sends no status line to what it takes for HTTP/0.9 (a request line it could
                # not read): API Gateway speaks no HTTP/0.9, so every answer has one.
                self.request_version = "HTTP/1.1"
                self.send_response(code, message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("api %s", format % args)

        return Handler


def _tenant(headers) -> str:
    """The tenant of the request's key, as the API function resolves it; "-" for a request without a valid one."""
    from blockhook.api.auth import Unauthorized, resolve_tenant
    from blockhook.config import settings

    config = settings()
    try:
        return resolve_tenant(config.auth_mode, dict(headers.items()), {}, config.api_keys)
    except Unauthorized:
        return "-"
