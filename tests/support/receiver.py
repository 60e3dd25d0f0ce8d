"""A real HTTP webhook receiver for tests: a threaded server on 127.0.0.1, on a free port.

    with WebhookReceiver(status(500), delay(2.0)) as receiver:
        ...post to receiver.url...
        requests = receiver.wait_for(lambda seen: len(seen) >= 3, timeout=30)
        receiver.verify_all(secret)

Every request is recorded (method, path, headers, raw body bytes, receive times) before the
receiver acts on it. Each request takes the next queued behaviour (`status`, `delay`,
`close_connection`, `trickle_body`, `trickle_headers`); once the queue is empty it answers 200.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler

from blockhook.delivery import signing
from tests.support.http_server import HOST, TrackingHTTPServer


@dataclass(frozen=True)
class Behaviour:
    """What the receiver does with one request. Build these with the functions below."""

    action: str = "respond"  # respond | close | trickle_body | trickle_headers
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before acting
    interval: float = 0.0  # seconds between trickled bytes
    count: int = 0  # trickle_headers: header bytes to send


def status(code: int, body: bytes | str = b"", headers: dict[str, str] | None = None) -> Behaviour:
    """Answer `code` with `body` (and extra headers, e.g. Location for a redirect)."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return Behaviour(status=code, body=raw, headers=tuple((headers or {}).items()))


def delay(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Wait `seconds`, then do `then` (default: answer 200)."""
    return replace(then or status(200), delay=seconds)


def close_connection() -> Behaviour:
    """Read the request, then close the connection without answering."""
    return Behaviour(action="close")


def trickle_body(body: bytes | str, interval: float, code: int = 200) -> Behaviour:
    """Send status and headers at once (Content-Length included), then the body one byte per `interval`."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    return Behaviour(action="trickle_body", status=code, body=raw, interval=interval)


def trickle_headers(interval: float, count: int = 10_000) -> Behaviour:
    """Send the status line, then a header value one byte per `interval`: the answer never completes in time."""
    return Behaviour(action="trickle_headers", interval=interval, count=count)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: float  # time.monotonic()
    received_wall: float = field(default=0.0)  # time.time(), for signature tolerance checks
    client_port: int = 0  # the sender's port: equal ports mean one kept-alive connection

    def header(self, name: str) -> str | None:
        """The last value of header `name`, case-insensitively, or None."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found

    def json(self):
        return json.loads(self.body)


class _Server(TrackingHTTPServer):
    def __init__(self, receiver: WebhookReceiver, ssl_context: ssl.SSLContext | None, port: int = 0) -> None:
        self.receiver = receiver
        super().__init__(_Handler, port)
        if ssl_context is not None:
            # Handshake in the handler thread (first read), not in the accept loop.
            self.socket = ssl_context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection does not hold a thread forever
    server: _Server

    def log_message(self, format, *args) -> None:  # noqa: A002 - signature of the base class
        pass

    def _handle(self) -> None:
        body = self._read_body()
        receiver = self.server.receiver
        behaviour = receiver._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers=tuple(self.headers.items()),
                body=body,
                received_at=time.monotonic(),
                received_wall=time.time(),
                client_port=self.client_address[1],
            )
        )
        try:
            if behaviour.delay and receiver._stopping.wait(behaviour.delay):
                self.close_connection = True
                return
            if behaviour.action == "close":
                self.close_connection = True
            elif behaviour.action == "trickle_body":
                self._send_head(behaviour, len(behaviour.body))
                for index in range(len(behaviour.body)):
                    if receiver._stopping.wait(behaviour.interval):
                        break
                    self.wfile.write(behaviour.body[index : index + 1])
                self.close_connection = True
            elif behaviour.action == "trickle_headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(behaviour.count):
                    if receiver._stopping.wait(behaviour.interval):
                        break
                    self.wfile.write(b"a")
                self.close_connection = True
            else:
                self._send_head(behaviour, len(behaviour.body))
                self.wfile.write(behaviour.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first; that is what some tests want

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_head(self, behaviour: Behaviour, length: int) -> None:
        self.send_response(behaviour.status)
        for name, value in behaviour.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle


class WebhookReceiver:
    """A real threaded HTTP server on 127.0.0.1 that records every request; use as a context manager."""

    def __init__(
        self, *behaviours: Behaviour, ssl_context: ssl.SSLContext | None = None, port: int = 0
    ) -> None:
        """`ssl_context` (a server-side context with a certificate loaded) makes it an https receiver;
        `port` a receiver on a port chosen beforehand (an endpoint that is down, then up), default any free one."""
        self._ssl_context = ssl_context
        self._chosen_port = port
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque(behaviours)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> WebhookReceiver:
        self._server = _Server(self, self._ssl_context, self._chosen_port)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def port(self) -> int:
        """The port it listens on (still known after stop, for assertions), or will listen on."""
        if self._port is None:
            if self._chosen_port:
                return self._chosen_port  # chosen beforehand: its URL is known before it starts
            raise RuntimeError("WebhookReceiver was never started")
        return self._port

    @property
    def base_url(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The webhook URL to configure: `http://127.0.0.1:<port>/webhook`."""
        return f"{self.base_url}/webhook"

    def respond(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests (after those already queued)."""
        with self._lock:
            self._queue.extend(behaviours)

    def _record(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            behaviour = self._queue.popleft() if self._queue else status(200)
            self._lock.notify_all()
        return behaviour

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests recorded so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def payloads(self) -> list:
        """The JSON bodies of the recorded requests."""
        return [request.json() for request in self.requests]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool] | None = None, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Wait until `predicate(requests so far)` is true (default: at least one request); return them.

        Raises AssertionError, listing what did arrive, when `timeout` seconds pass first.
        """
        check = predicate or (lambda seen: len(seen) > 0)
        give_up_at = time.monotonic() + timeout
        with self._lock:
            while True:
                snapshot = list(self._requests)
                if check(snapshot):
                    return snapshot
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    arrived = [(r.method, r.path, r.header(signing.DELIVERY_ID_HEADER)) for r in snapshot]
                    raise AssertionError(
                        f"webhook receiver: condition not met within {timeout}s; got {arrived}"
                    )
                self._lock.wait(min(remaining, 0.1))

    def verify_all(self, secret: str, tolerance_seconds: int = 300) -> list[RecordedRequest]:
        """Check every recorded request's Blockhook-Signature with `secret`, at the time it arrived.

        Raises AssertionError naming the requests that do not verify; returns the requests.
        """
        recorded = self.requests
        bad = [
            (
                request.path,
                request.header(signing.DELIVERY_ID_HEADER),
                request.header(signing.SIGNATURE_HEADER),
            )
            for request in recorded
            if not signing.verify(
                request.header(signing.SIGNATURE_HEADER) or "",
                request.body,
                secret,
                tolerance_seconds=tolerance_seconds,
                now=int(request.received_wall),
            )
        ]
        if bad:
            raise AssertionError(
                f"{len(bad)} of {len(recorded)} webhook requests fail signature verification: {bad}"
            )
        return recorded
