"""A real HTTP forwarding proxy for fault tests: a threaded server on 127.0.0.1, on a free port.

    plan = seeded_share(0.3, [http_error(429), malformed_json(), json_rpc_error()], seed=7, where=is_json_rpc)
    with FaultProxy("http://127.0.0.1:8545", plan) as proxy:
        ...point the component at proxy.url...
        assert proxy.injected("http_429") > 0
        proxy.switch_upstream("http://127.0.0.1:8546")  # a failover to another node

Every request goes to the plan first: a callable that sees the request (method, path, headers, body
bytes) and returns None, to forward it upstream and relay the answer, or a Fault, to answer that
instead. A faulted request never reaches the upstream (a throttled DynamoDB write is not applied).
The Host header is forwarded as the client sent it: AWS signs it, and nothing upstream checks it.
Faults are counted per kind, so a test can show that its faults really happened.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.support.http_server import HOST, TrackingHTTPServer

# Headers of one connection, not of the message: never forwarded either way.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length"}
)  # fmt: skip
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."
THROTTLE_TYPE = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The last value of header `name`, case-insensitively, or None."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Fault:
    """An answer given instead of the upstream's; `kind` names it in the proxy's counters. With `applied`
    the request is forwarded first and the upstream's answer thrown away: the write took effect, but the
    client is told it failed (an answer lost on the way back), and may well send it again."""

    kind: str
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    applied: bool = False


FaultPlan = Callable[[ProxiedRequest], Fault | None]
FaultMaker = Callable[[ProxiedRequest], Fault]  # a fault shaped after the request it answers


# --- faults ---------------------------------------------------------------------------------------


def http_error(status: int, body: bytes | str = b"", kind: str | None = None) -> FaultMaker:
    """Answer HTTP `status` (429, 502, 503, ...) with `body`."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    fault = Fault(kind or f"http_{status}", status, raw, (("Content-Type", "text/plain"),))
    return lambda request: fault


def malformed_json() -> FaultMaker:
    """A 200 whose body is cut-off JSON, as from a proxy or node that died mid-answer."""
    cut_off = b'{"jsonrpc":"2.0","id":1,"result":{"num'
    fault = Fault("malformed_json", 200, cut_off, (("Content-Type", "application/json"),))
    return lambda request: fault


def json_rpc_error(code: int = -32000, message: str = "injected node fault: internal error") -> FaultMaker:
    """A 200 with a JSON-RPC error answer shaped after the request: one error object with the
    request's id, or for a batch an array of them, one per call, each with its call's id."""

    def make(request: ProxiedRequest) -> Fault:
        sent = request.json()
        calls = sent if isinstance(sent, list) else [sent]
        answers = [
            {"jsonrpc": "2.0", "id": call.get("id") if isinstance(call, dict) else None,
             "error": {"code": code, "message": message}}
            for call in calls
        ]  # fmt: skip
        body = answers if isinstance(sent, list) else answers[0]
        return Fault("json_rpc_error", 200, json.dumps(body).encode(), (("Content-Type", "application/json"),))

    return make


def json_rpc_result(result: Any, kind: str = "wrong_result") -> FaultMaker:
    """A 200 with a well-formed JSON-RPC answer whose `result` is `result` (for a batch, one per call,
    each with its call's id): garbage that only a client checking what it is given can refuse."""

    def make(request: ProxiedRequest) -> Fault:
        sent = request.json()
        calls = sent if isinstance(sent, list) else [sent]
        answers = [
            {"jsonrpc": "2.0", "id": call.get("id") if isinstance(call, dict) else None, "result": result}
            for call in calls
        ]
        body = answers if isinstance(sent, list) else answers[0]
        return Fault(kind, 200, json.dumps(body).encode(), (("Content-Type", "application/json"),))

    return make


def dynamodb_throttle() -> FaultMaker:
    """DynamoDB's own throttling answer; botocore retries it, then raises it to the caller."""
    body = json.dumps({"__type": THROTTLE_TYPE, "message": "Rate exceeded"}).encode()
    fault = Fault(
        "dynamodb_throttle",
        400,
        body,
        (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "fault-proxy-throttle")),
    )
    return lambda request: fault


# The JSON-protocol AWS services blockhook calls, by the prefix of their X-Amz-Target header.
AWS_TARGET_SERVICES = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "TrentService": "kms"}
# Each service's own code for "slow down": botocore retries these as throttling, like 500 and 503.
AWS_THROTTLE_CODES = {"dynamodb": "ProvisionedThroughputExceededException", "sqs": "RequestThrottled",
                      "kms": "ThrottlingException"}  # fmt: skip


def aws_error(
    status: int, code: str | None = None, name: str | None = None, applied: bool = False
) -> FaultMaker:
    """A JSON-protocol AWS error answer (`__type` `code`, HTTP `status`) shaped after the request's service:
    its kind is `<service>_<name>` (dynamodb_500, sqs_503, ...; `name` defaults to the status). With no
    `code`, the service's throttling code (AWS_THROTTLE_CODES). `applied`: the call is carried out first,
    as AWS may do with a call it answers 500 (see Fault). Only for requests `is_aws_call` accepts."""

    def make(request: ProxiedRequest) -> Fault:
        service = aws_service(request) or "aws"
        error_code = code or AWS_THROTTLE_CODES.get(service, "ThrottlingException")
        body = json.dumps({"__type": error_code, "message": f"injected {service} fault"}).encode()
        return Fault(
            f"{service}_{name or status}",
            status,
            body,
            (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "fault-proxy")),
            applied,
        )

    return make


def aws_throttle() -> FaultMaker:
    """The service's own throttling answer (HTTP 400): kind `<service>_throttle`."""
    return aws_error(400, name="throttle")


# --- what a plan applies to -----------------------------------------------------------------------


def is_json_rpc(request: ProxiedRequest) -> bool:
    """A JSON-RPC call or batch (a POST whose JSON body has "jsonrpc")."""
    if request.method != "POST":
        return False
    sent = request.json()
    if isinstance(sent, list):
        return bool(sent) and all(isinstance(call, dict) and "jsonrpc" in call for call in sent)
    return isinstance(sent, dict) and "jsonrpc" in sent


def is_dynamodb(request: ProxiedRequest) -> bool:
    """A DynamoDB API call (X-Amz-Target DynamoDB_20120810.<Operation>)."""
    return (request.header("X-Amz-Target") or "").startswith(DYNAMODB_TARGET_PREFIX)


def aws_service(request: ProxiedRequest) -> str | None:
    """dynamodb, sqs or kms for a call of that service's JSON protocol (X-Amz-Target <prefix>.<Operation>),
    else None (S3, the moto server's own API, anything else)."""
    return AWS_TARGET_SERVICES.get((request.header("X-Amz-Target") or "").partition(".")[0])


def is_aws_call(request: ProxiedRequest) -> bool:
    """A DynamoDB, SQS or KMS API call."""
    return aws_service(request) is not None


def anything(request: ProxiedRequest) -> bool:
    return True


# --- plans ----------------------------------------------------------------------------------------


def _counted(hit: Callable[[int], bool], fault: FaultMaker, where: Callable[[ProxiedRequest], bool]) -> FaultPlan:
    """`fault` for the k-th request that `where` accepts (k = 1, 2, ...) when `hit(k)`."""
    lock = threading.Lock()
    seen = 0

    def plan(request: ProxiedRequest) -> Fault | None:
        nonlocal seen
        if not where(request):
            return None
        with lock:
            seen += 1
            faulted = hit(seen)
        return fault(request) if faulted else None

    return plan


def every_nth(n: int, fault: FaultMaker, where: Callable[[ProxiedRequest], bool] = anything) -> FaultPlan:
    """The n-th, 2n-th, ... request that `where` accepts gets `fault`."""
    if n < 1:
        raise ValueError("n must be at least 1")
    return _counted(lambda seen: seen % n == 0, fault, where)


def first_n(n: int, fault: FaultMaker, where: Callable[[ProxiedRequest], bool] = anything) -> FaultPlan:
    """The first `n` requests that `where` accepts get `fault` (a maker may also return None after
    holding the request: it is then forwarded late)."""
    return _counted(lambda seen: seen <= n, fault, where)


def bursts(
    period: int, length: int, fault: FaultMaker, where: Callable[[ProxiedRequest], bool] = anything
) -> FaultPlan:
    """Of every `period` requests that `where` accepts, the last `length` in a row get `fault`:
    a burst longer than a client's own retries makes the caller itself see the failure."""
    if not 0 < length < period:
        raise ValueError("need 0 < length < period")
    return _counted(lambda seen: (seen - 1) % period >= period - length, fault, where)


def seeded_share(
    share: float, faults: Sequence[FaultMaker], seed: int, where: Callable[[ProxiedRequest], bool] = anything
) -> FaultPlan:
    """A `share` of the requests `where` accepts get one of `faults`, drawn by a seeded RNG: the
    sequence of decisions is the same on every run (which request meets which decision depends on
    the order requests arrive in)."""
    if not faults:
        raise ValueError("give at least one fault")
    rng = random.Random(seed)
    lock = threading.Lock()

    def plan(request: ProxiedRequest) -> Fault | None:
        if not where(request):
            return None
        with lock:
            hit = rng.random() < share
            maker = rng.choice(faults)
        return maker(request) if hit else None

    return plan


def first_of(*plans: FaultPlan) -> FaultPlan:
    """The first fault any of `plans` gives. Each plan sees every request, so each one's count or
    random sequence runs on as if it were alone."""

    def plan(request: ProxiedRequest) -> Fault | None:
        found = None
        for each in plans:
            fault = each(request)
            if found is None:
                found = fault
        return found

    return plan


class Windows:
    """A plan that is quiet until `start()`, then applies `plan` during repeated windows:
    `on_seconds` with `plan` in force, `off_seconds` without, and so on until `stop()`.

    `Windows(6, 4, throttle_dynamodb())` throttles every DynamoDB call for 6 s in every 10 s: longer
    than botocore's retries of one call last, so the caller itself sees the error."""

    def __init__(
        self, on_seconds: float, off_seconds: float, plan: FaultPlan, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.on_seconds = on_seconds
        self.off_seconds = off_seconds
        self.plan = plan
        self.clock = clock
        self._started_at: float | None = None
        self.windows_entered = 0  # on-windows that have begun since start(), as far as requests saw
        self._last_window = -1
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._started_at = self.clock()
            self._last_window = -1

    def stop(self) -> None:
        with self._lock:
            self._started_at = None

    def active(self) -> bool:
        with self._lock:
            if self._started_at is None:
                return False
            elapsed = self.clock() - self._started_at
            window, into = divmod(elapsed, self.on_seconds + self.off_seconds)
            if into >= self.on_seconds:
                return False
            if window != self._last_window:
                self._last_window = window
                self.windows_entered += 1
            return True

    def __call__(self, request: ProxiedRequest) -> Fault | None:
        return self.plan(request) if self.active() else None


def throttle_dynamodb(share: float = 1.0, seed: int = 0) -> FaultPlan:
    """Throttle every DynamoDB call (share 1.0) or a seeded random `share` of them."""
    if share >= 1.0:
        throttle = dynamodb_throttle()
        return lambda request: throttle(request) if is_dynamodb(request) else None
    return seeded_share(share, [dynamodb_throttle()], seed, where=is_dynamodb)


# --- the proxy ------------------------------------------------------------------------------------


class _Server(TrackingHTTPServer):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(_Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle kept-alive client connection does not hold a thread forever
    server: _Server
    _upstream: http.client.HTTPConnection | None = None  # one per client connection, kept alive
    _upstream_target = None  # the upstream that connection goes to

    def log_message(self, format, *args) -> None:  # noqa: A002 - signature of the base class
        pass

    def _handle(self) -> None:
        request = ProxiedRequest(self.command, self.path, tuple(self.headers.items()), self._read_body())
        proxy = self.server.proxy
        fault = proxy._decide(request)
        if fault is not None:
            if fault.applied:
                try:
                    self._forward(request)
                except OSError:
                    proxy._count_upstream_error()
            self._answer(fault.status, fault.headers, fault.body)
            return
        try:
            status, headers, body = self._forward(request)
        except OSError as error:
            proxy._count_upstream_error()
            self._answer(502, (("Content-Type", "text/plain"),), f"fault proxy: upstream failed: {error}".encode())
            return
        self._answer(status, headers, body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _forward(self, request: ProxiedRequest) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
        upstream = self.server.proxy.upstream
        for fresh in (False, True):
            if self._upstream is None or fresh or self._upstream_target != upstream:
                if self._upstream is not None:
                    self._upstream.close()
                self._upstream = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                self._upstream_target = upstream
            connection = self._upstream
            try:
                connection.putrequest(request.method, request.path, skip_host=True, skip_accept_encoding=True)
                for name, value in request.headers:
                    if name.lower() not in _HOP_BY_HOP:
                        connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(request.body)))
                connection.endheaders(request.body)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if fresh:
                    raise
                continue  # a kept-alive upstream connection the server had closed: once more, anew
            if response.will_close:
                connection.close()
                self._upstream = None
            headers = tuple((k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP)
            return response.status, headers, body
        raise AssertionError("unreachable")

    def _answer(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class FaultProxy:
    """A forwarding HTTP proxy to `upstream` whose answers `plan` may replace with faults; use as a
    context manager. `plan` may be changed while it runs (`proxy.plan = ...`)."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None) -> None:
        self.upstream = _upstream_parts(upstream)
        self.plan: FaultPlan | None = plan
        self._lock = threading.Lock()
        self._faults: Counter[str] = Counter()
        self._forwarded = 0
        self._upstream_errors = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def switch_upstream(self, upstream: str) -> None:
        """Forward every request from now on to `upstream`: a failover to another node, say."""
        self.upstream = _upstream_parts(upstream)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        self._server = _Server(self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FaultProxy was never started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _decide(self, request: ProxiedRequest) -> Fault | None:
        plan = self.plan
        fault = plan(request) if plan is not None else None
        with self._lock:
            if fault is None:
                self._forwarded += 1
            else:
                self._faults[fault.kind] += 1
        return fault

    def _count_upstream_error(self) -> None:
        with self._lock:
            self._upstream_errors += 1

    @property
    def faults(self) -> dict[str, int]:
        """Faults injected so far, per kind."""
        with self._lock:
            return dict(self._faults)

    def injected(self, kind: str | None = None) -> int:
        """Faults of `kind` injected so far (all kinds when None)."""
        with self._lock:
            return sum(self._faults.values()) if kind is None else self._faults[kind]

    @property
    def forwarded(self) -> int:
        """Requests passed to the upstream (answered by it, or by a 502 when it failed)."""
        with self._lock:
            return self._forwarded

    @property
    def upstream_errors(self) -> int:
        with self._lock:
            return self._upstream_errors


def _upstream_parts(upstream: str):
    parts = urlsplit(upstream)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
    return parts
