"""The REST API over HTTP: one session, the error envelope as an exception, retries of 429 and 503."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests

RETRIED_STATUSES = (429, 503)
RETRIES = 5
MAX_WAIT_SECONDS = 30.0
# (connect, read): an address call of 10,000 items takes seconds on a busy local stack.
TIMEOUT = (10, 120)


class ApiError(Exception):
    """The API answered an error (its envelope, or an answer that is not one)."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


class Unreachable(Exception):
    """No answer from the API: refused, timed out, not HTTP."""


def base_url(url: str) -> str:
    """The API's base as given, with or without /v1 and trailing slashes: the URL that /v1/... follows."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the API URL must start with http:// or https://, not {url!r}")
    return url


def _retry_wait(answer: requests.Response, attempt: int) -> float:
    header = answer.headers.get("Retry-After", "")
    if header.strip().isdigit():
        return min(float(header), MAX_WAIT_SECONDS)
    return min(0.5 * 2**attempt, MAX_WAIT_SECONDS)


class Client:
    def __init__(
        self, api_url: str, api_key: str | None, sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:  # fmt: skip
        self.base = base_url(api_url)
        self.api_key = api_key
        self.sleep = sleep
        self.session = session or requests.Session()

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One call of `/v1{path}`; the parsed answer (None for 204). 429 and 503 are retried with backoff
        (the answer's Retry-After when it has one); a create carries an Idempotency-Key, so its retry
        makes one monitor."""
        headers = {"accept": "application/json"}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        data = None
        if body is not None:
            # UTF-8, not \u escapes: labels in most scripts then take at most 2 bytes a character of the
            # API's body limit.
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["content-type"] = "application/json"
        if method == "POST" and path == "/monitors":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        url = f"{self.base}/v1{path}"
        attempt = 0
        while True:
            try:
                answer = self.session.request(method, url, data=data, headers=headers, params=params, timeout=TIMEOUT)
            except (requests.ConnectionError, requests.Timeout) as error:
                raise Unreachable(f"cannot reach the API at {self.base}: {_reason(error)}") from None
            except requests.RequestException as error:
                raise Unreachable(f"cannot reach the API at {self.base}: {error}") from None
            if answer.status_code in RETRIED_STATUSES and attempt < RETRIES:
                self.sleep(_retry_wait(answer, attempt))
                attempt += 1
                continue
            return _parse(answer)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def pages(self, path: str, limit: int, **params: Any) -> Iterator[list[dict[str, Any]]]:
        """Each page of a paged list, following its cursors."""
        cursor = None
        while True:
            page = self.get(path, limit=limit, cursor=cursor, **params)
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def all(self, path: str, limit: int, **params: Any) -> list[dict[str, Any]]:
        return [item for page in self.pages(path, limit, **params) for item in page]

    def monitors(self) -> list[dict[str, Any]]:
        return self.all("/monitors", 100)

    def addresses(self, monitor_id: str) -> list[dict[str, Any]]:
        return self.all(f"/monitors/{quote(monitor_id, safe='')}/addresses", 1000)


def _reason(error: Exception) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    text = str(error)
    if "Connection refused" in text:
        return "connection refused"
    return text


def _parse(answer: requests.Response) -> Any:
    if answer.status_code == 204 or not answer.content:
        if answer.ok:
            return None
        raise ApiError(answer.status_code, f"http_{answer.status_code}", answer.reason or "no body")
    try:
        body = answer.json()
    except ValueError:
        if answer.ok:
            raise ApiError(answer.status_code, "not_json", f"the answer is not JSON: {answer.text[:200]}") from None
        raise ApiError(answer.status_code, f"http_{answer.status_code}", answer.text[:500]) from None
    if answer.ok:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "code" in error:
        details = error.get("details")
        return _raise(answer.status_code, str(error["code"]), str(error.get("message", "")), details)
    # API Gateway's own answers (a 403 of a missing key, a 429 of the usage plan): {"message": ...}
    message = body.get("message") if isinstance(body, dict) else None
    raise ApiError(answer.status_code, f"http_{answer.status_code}", str(message or body))


def _raise(status: int, code: str, message: str, details: Any) -> None:
    raise ApiError(status, code, message, details if isinstance(details, list) else [])


def quoted(monitor_id: str) -> str:
    return quote(monitor_id, safe="")
