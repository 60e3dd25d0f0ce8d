"""JSON-RPC over HTTP with batching and failover across several node URLs.

A node URL often carries an API key (in its path or query string), so nothing
this module raises or logs ever shows more of a URL than scheme://host:port.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3

from blockhook.jsonparse import loads as parse_json

MAX_CALLS_PER_REQUEST = 100

# Codes that say "your request is wrong" even though some sit in the server range.
_METHOD_MISSING_CODES = frozenset({-32601, -32004})
_METHOD_MISSING_MESSAGE = re.compile(
    r"method\b.*\b(not found|does not exist|not supported|unsupported|not available|is not available)"
    r"|unsupported method|method not found",
    re.IGNORECASE,
)
# Messages in the server code range that are still the caller's fault: another node says the same.
_CALLER_FAULT_MESSAGE = re.compile(
    r"revert|insufficient funds|nonce too (low|high)|already known|intrinsic gas|gas too low"
    r"|invalid (argument|params|sender|signature|transaction)|replacement transaction",
    re.IGNORECASE,
)
# Rate limits and overload, whatever code the provider chose for them.
_SERVER_SIDE_MESSAGE = re.compile(
    r"rate.?limit|too many requests|\b429\b|limit exceeded|quota|capacity|try again|temporarily|overloaded|busy",
    re.IGNORECASE,
)
# HTTP answers that mean "slow down" rather than "broken".
_OVERLOAD_STATUSES = frozenset({429, 503})
# Safe fragments of a connection error; the rest of its text holds the full URL.
_CONNECTION_REASONS = (
    "Connection refused",
    "Connection reset",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname provided",
    "No route to host",
    "Network is unreachable",
    "certificate verify failed",
    "Remote end closed connection",
)


class RpcError(Exception):
    """A JSON-RPC error answer that is the caller's fault: asking another node would not help."""

    def __init__(self, code: int, message: str, method: str, data: Any = None):
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message
        self.method = method
        self.data = data

    @property
    def method_not_found(self) -> bool:
        return self.code in _METHOD_MISSING_CODES or bool(_METHOD_MISSING_MESSAGE.search(self.message))


class RpcUnavailable(Exception):
    """Every URL failed in every round; `failures` maps each redacted URL to its last failure.
    `overloaded`: some answer said "too much" (HTTP 429 or 503, a rate-limit error) or did not come
    in time: a caller sending several requests at once should send fewer."""

    def __init__(self, failures: dict[str, str], rounds: int, overloaded: bool = False):
        listing = "; ".join(f"{url}: {reason}" for url, reason in failures.items())
        super().__init__(f"all {len(failures)} RPC URL(s) failed after {rounds} round(s): {listing}")
        self.failures = failures
        self.overloaded = overloaded


class _TryNextUrl(Exception):
    """This URL failed in a way another URL (or a later round) may not."""

    def __init__(self, reason: str, overload: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.overload = overload


def redact_url(url: str) -> str:
    """scheme://host[:port] only: paths and query strings of RPC URLs may hold API keys."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{port}"


def is_server_side(code: int, message: str) -> bool:
    """True when a JSON-RPC error is the node's trouble (overload, limits, internal), worth another URL."""
    if code in _METHOD_MISSING_CODES or _METHOD_MISSING_MESSAGE.search(message):
        return False
    if _SERVER_SIDE_MESSAGE.search(message):
        return True
    if code == -32603:
        return True
    if -32099 <= code <= -32000:
        return not _CALLER_FAULT_MESSAGE.search(message)
    return False


class JsonRpcClient:
    """Sends JSON-RPC calls to the first URL that answers well, remembering it for next time."""

    def __init__(
        self,
        urls: Sequence[str],
        timeout: float = 10.0,
        max_rounds: int = 3,
        backoff: float = 0.2,
        session: requests.Session | None = None,
    ):
        if isinstance(urls, str):
            urls = [urls]
        if not urls:
            raise ValueError("JsonRpcClient needs at least one URL")
        if max_rounds < 1:
            raise ValueError("max_rounds must be at least 1")
        self._urls = list(urls)
        labels = [redact_url(url) for url in self._urls]
        # Two keys at one provider redact alike: number them so failures stay apart.
        self._labels = [
            f"{label} (#{index + 1})" if labels.count(label) > 1 else label
            for index, label in enumerate(labels)
        ]
        self.timeout = timeout
        self.max_rounds = max_rounds
        self.backoff = backoff
        self._session = session or _pooled_session()
        self._ids = itertools.count(1)
        self._preferred = 0

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(self._urls)

    def call(self, method: str, params: list) -> Any:
        request_id = next(self._ids)
        payload = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}

        def parse(body: Any) -> Any:
            if not isinstance(body, dict):
                raise _TryNextUrl("answer is not a JSON-RPC object")
            # Providers that refuse a request before reading it (rate limits) answer with id null.
            if body.get("id") != request_id and not (body.get("id") is None and "error" in body):
                raise _TryNextUrl("answer is not a JSON-RPC response to this request")
            return _result_of(body, method)

        return self._with_failover(payload, parse)

    def batch(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        """Results in the order of `calls`; sent in requests of at most MAX_CALLS_PER_REQUEST calls."""
        results: list[Any] = []
        for start in range(0, len(calls), MAX_CALLS_PER_REQUEST):
            results.extend(self._batch_chunk(calls[start : start + MAX_CALLS_PER_REQUEST]))
        return results

    def _batch_chunk(self, calls: Sequence[tuple[str, list]]) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        methods = [method for method, _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
            for request_id, (method, params) in zip(ids, calls, strict=True)
        ]

        def parse(body: Any) -> list[Any]:
            if isinstance(body, dict) and "error" in body:  # the whole batch refused
                _result_of(body, "batch")
            if not isinstance(body, list):
                raise _TryNextUrl("answer to a batch is not a JSON array")
            by_id = {
                entry["id"]: entry
                for entry in body
                if isinstance(entry, dict) and type(entry.get("id")) is int
            }
            missing = sum(1 for request_id in ids if request_id not in by_id)
            if missing:
                raise _TryNextUrl(f"batch answer lacks {missing} of {len(ids)} ids")
            results = []
            retry: _TryNextUrl | None = None
            for request_id, method in zip(ids, methods, strict=True):
                try:
                    results.append(_result_of(by_id[request_id], method))
                except _TryNextUrl as failure:  # a caller-fault error later in the batch still wins
                    retry = retry or failure
            if retry:
                raise retry
            return results

        return self._with_failover(payload, parse)

    def _with_failover(self, payload: Any, parse: Callable[[Any], Any]) -> Any:
        data = json.dumps(payload, separators=(",", ":")).encode()
        failures: dict[int, str] = {}
        overloaded = False
        count = len(self._urls)
        for round_number in range(self.max_rounds):
            if round_number and self.backoff > 0:
                time.sleep(self.backoff * 2 ** (round_number - 1))
            first = self._preferred
            for step in range(count):
                index = (first + step) % count
                try:
                    status, body = self._post(index, data)
                    try:
                        result = parse(body)
                    except _TryNextUrl as failure:
                        if not 200 <= status < 300:
                            raise _TryNextUrl(f"HTTP {status}: {failure.reason}", failure.overload) from None
                        raise
                except _TryNextUrl as failure:
                    failures[index] = failure.reason
                    overloaded = overloaded or failure.overload
                    continue
                self._preferred = index
                return result
        failed = {self._labels[i]: failures[i] for i in sorted(failures)}
        raise RpcUnavailable(failed, self.max_rounds, overloaded)

    def _post(self, index: int, data: bytes) -> tuple[int, Any]:
        try:
            response = self._session.post(
                self._urls[index],
                data=data,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
                stream=True,
            )
        except requests.Timeout:
            raise _TryNextUrl(f"timed out after {self.timeout}s", overload=True) from None
        except requests.RequestException as exc:
            raise _TryNextUrl(_connection_reason(exc)) from None
        try:
            # The answer read in one call (the connection then goes back to the pool): requests reads it
            # 10 KB at a time, each piece taking the interpreter lock back from ingest's other threads,
            # hundreds of times for one batch of blocks.
            content = response.raw.read(decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise _TryNextUrl(f"timed out after {self.timeout}s", overload=True) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _TryNextUrl(f"answer cut short: {exc}") from None
        finally:
            response.close()  # a no-op once read whole; else the connection is not reused
        status = response.status_code
        if status == 429 or status >= 500:
            raise _TryNextUrl(f"HTTP {status}", overload=status in _OVERLOAD_STATUSES)
        try:
            body = parse_json(content)
        except ValueError:
            raise _TryNextUrl(f"HTTP {status}: answer is not JSON") from None
        return status, body


# Connections kept per node: one per request in flight (ChainConfig.max_requests_in_flight allows up
# to 16); requests' default of 10 would open and drop extra connections above that.
POOL_CONNECTIONS = 16


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _result_of(entry: dict, method: str) -> Any:
    error = entry.get("error")
    if error is not None:
        if not isinstance(error, dict) or type(error.get("code")) is not int:
            raise _TryNextUrl(f"{method}: malformed JSON-RPC error")
        code, message = error["code"], str(error.get("message", ""))
        if is_server_side(code, message):
            overload = bool(_SERVER_SIDE_MESSAGE.search(message))
            raise _TryNextUrl(f"{method}: JSON-RPC error {code}: {message[:200]}", overload)
        raise RpcError(code, message, method, error.get("data"))
    if "result" not in entry:
        raise _TryNextUrl(f"{method}: answer has neither result nor error")
    return entry["result"]


def _connection_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    for reason in _CONNECTION_REASONS:
        if reason in text:
            return f"{type(exc).__name__}: {reason}"
    return f"{type(exc).__name__}"
