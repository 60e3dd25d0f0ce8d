"""One webhook POST attempt. Whatever the endpoint does, the answer is an AttemptResult, never an exception.

Time bound. `timeout` (10 s in the contract) covers the whole attempt: connect, TLS handshake,
sending, status line and headers, and the (capped) body read. Three layers enforce it:

1. requests gets `timeout=(timeout, timeout)`: connect and each socket read are bounded.
2. A watchdog timer shuts the connection's socket down (`shutdown(SHUT_RDWR)`) once `timeout` has
   passed since the start, which wakes any blocked read at once. This bounds a server that
   trickles its status line or headers one byte at a time, which (1) alone does not.
3. The body is streamed and read at most MAX_RESPONSE_BYTES (64 KB), stopping at the deadline.

Bound reached with the default transport (`session=None` or a session from `webhook_session()`)
and `connect_to` set (the production path): the call returns within `timeout` plus a few
milliseconds. The connect phase alone is bounded by `timeout` and the watchdog covers everything
after it, so it cannot add up. Without `connect_to` the host name is resolved by the system
first (not bounded here) and each resolved address may take up to `timeout` to connect. With
any other requests.Session only (1) and (3) apply: each read may take up to `timeout`.

Once the status line and headers are in, the status decides the outcome: a receiver that
answered 200 has the delivery even if its body then stalls past the deadline (the excerpt is
just shorter). Redirects are never followed: a 3xx is a failed attempt, so an endpoint cannot
bounce a signed payload to a host the URL policy never checked.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 256
_READ_CHUNK_BYTES = 4096
_MAX_ERROR_CHARS = 200

# What a misbehaving endpoint or network can make requests/urllib3/http.client raise.
_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    error: str | None
    latency_ms: int
    response_excerpt: str
    # The headers it was posted with (delivery/service.py post_signed); None when not posted.
    sent_headers: Mapping[str, str] | None = None


class _Deadline:
    """Shuts down every socket registered with it once `seconds` have passed, unless cancelled first."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._done = False
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self.fired:
                _shutdown(sock)
            elif not self._done:
                self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        """After this returns the watchdog touches no socket any more."""
        self._timer.cancel()
        with self._lock:
            self._done = True
            self._sockets.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to interrupt
        sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()  # the _Deadline of the attempt running on this thread, if any


class _WatchedConnectionMixin:
    """Registers a dup of the connection's socket with the current attempt's deadline.

    A dup, because TLS wraps (and detaches) the plain socket and an SSLSocket cannot be dup'ed;
    shutdown() through the dup'ed descriptor still reaches the same TCP connection.
    """

    _watch_handle: socket.socket | None = None

    def _register_with_deadline(self) -> None:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and self._watch_handle is not None:
            deadline.watch(self._watch_handle)

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        if self._watch_handle is not None:
            self._watch_handle.close()
        self._watch_handle = sock.dup()
        self._register_with_deadline()
        return sock

    def request(self, *args, **kwargs):  # a kept-alive connection is registered anew for each attempt
        self._register_with_deadline()
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def close(self) -> None:
        try:
            super().close()  # type: ignore[misc]
        finally:
            handle, self._watch_handle = self._watch_handle, None
            if handle is not None:
                handle.close()


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _host_header_name(host_header: str) -> str:
    """The host name of a Host header value: without port, without IPv6 brackets."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    name, sep, port = host_header.rpartition(":")
    return name if sep and port.isdigit() else host_header


def _is_ip_literal(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


class WebhookAdapter(HTTPAdapter):
    """HTTPAdapter with the deadline watchdog and TLS pinning for `connect_to`.

    An https request whose URL host is an IP address and which carries a Host header is sent with
    TLS SNI and certificate verification for the Host header's name (like curl --resolve).
    """

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_header = request.headers.get("Host")
        if host_params.get("scheme") == "https" and host_header and _is_ip_literal(host_params.get("host")):
            name = _host_header_name(host_header)
            # Part of the pool key too, so connections for different names never share a pool.
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def webhook_session() -> requests.Session:
    """A session for post_webhook that keeps connections alive between attempts.

    No proxies, .netrc or CA bundle from the environment (trust_env=False): a proxy would
    defeat the URL policy's pinned address.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = WebhookAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _route(url: str, headers: Mapping[str, str], connect_to: str | None) -> tuple[str, dict[str, str]]:
    """URL and headers to send; with connect_to, the IP goes in the URL and the name in the Host header."""
    send_headers = dict(headers)
    if connect_to is None:
        return url, send_headers
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("url has no host")
    address = ipaddress.ip_address(connect_to.strip("[]"))
    ip_host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
    send_headers = {name: value for name, value in send_headers.items() if name.lower() != "host"}
    send_headers["Host"] = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), send_headers


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests -> urllib3 -> socket), breadth first."""
    seen: list[BaseException] = []
    pending = [exc]
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return seen


def _describe(exc: BaseException, timeout: float, timed_out: bool) -> str:
    """A short, stable error string for the delivery log."""
    if timed_out or isinstance(exc, requests.exceptions.ReadTimeout):
        return f"timeout: no answer within {timeout:g}s"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connect timeout after {timeout:g}s"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_reason_text(exc)}"[:_MAX_ERROR_CHARS]
    chain = _exception_chain(exc)
    for cause, text in (
        (ConnectionRefusedError, "connection refused"),
        (http.client.RemoteDisconnected, "connection closed without answer"),
        (ConnectionResetError, "connection reset"),
        (BrokenPipeError, "connection closed while sending"),
        (urllib3.exceptions.NameResolutionError, "host not resolved"),
        (socket.gaierror, "host not resolved"),
        (TimeoutError, f"timeout: no answer within {timeout:g}s"),
        (http.client.IncompleteRead, "connection closed in the middle of the answer"),
    ):
        if any(isinstance(link, cause) for link in chain):
            return text
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return f"invalid url: {exc}"[:_MAX_ERROR_CHARS]
    return f"{type(exc).__name__}: {_reason_text(exc)}"[:_MAX_ERROR_CHARS]


def _reason_text(exc: BaseException) -> str:
    chain = _exception_chain(exc)
    return str(chain[-1] if len(chain) > 1 else exc) or type(exc).__name__


def _read_capped(response: requests.Response, deadline: _Deadline, deadline_at: float) -> bytes:
    """Up to MAX_RESPONSE_BYTES of the (decoded) body, stopping at the deadline; best effort."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(chunk_size=_READ_CHUNK_BYTES):
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_RESPONSE_BYTES or deadline.fired or time.monotonic() >= deadline_at:
                break
    except _TRANSPORT_ERRORS:
        pass  # the status is already known; a broken body only shortens the excerpt
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _outcome(status: int) -> tuple[bool, str | None]:
    if 200 <= status < 300:
        return True, None
    if 300 <= status < 400:
        return False, "redirect not followed"
    return False, f"HTTP {status}"


def post_webhook(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = 10.0,
    session: requests.Session | None = None,
    connect_to: str | None = None,
) -> AttemptResult:
    """POST `body` to `url` once. 2xx is ok; anything else, or no answer within `timeout`, is not.

    connect_to: an IP address already checked by url_policy; the connection goes there while the
    Host header (and for https the TLS SNI and certificate check) keep the URL's host name.
    """
    started = time.monotonic()
    try:
        target_url, send_headers = _route(url, headers, connect_to)
    except ValueError as exc:
        return AttemptResult(False, None, f"invalid url: {exc}"[:_MAX_ERROR_CHARS], _elapsed_ms(started), "")

    own_session = session is None
    active = webhook_session() if session is None else session
    deadline = _Deadline(timeout)
    _current.deadline = deadline
    deadline.start()
    response = None
    try:
        try:
            response = active.post(
                target_url,
                data=body,
                headers=send_headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except _TRANSPORT_ERRORS as exc:
            return AttemptResult(
                False, None, _describe(exc, timeout, deadline.fired), _elapsed_ms(started), ""
            )
        if deadline.fired:
            # Cut off while headers were still coming in: http.client takes the EOF for their end,
            # so the status line may look fine, but the answer did not arrive in time.
            return AttemptResult(
                False, None, _describe(TimeoutError(), timeout, True), _elapsed_ms(started), ""
            )
        raw = _read_capped(response, deadline, started + timeout)
    finally:
        _current.deadline = None
        deadline.cancel()
        if response is not None:
            response.close()
        if own_session:
            active.close()

    ok, error = _outcome(response.status_code)
    # 4 bytes per character at most: decoding this much is enough for EXCERPT_CHARS characters.
    excerpt = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    return AttemptResult(ok, response.status_code, error, _elapsed_ms(started), excerpt)
