"""The REST API as a client sees it, called in this process: the deployed handler (functions/api/handler.py,
loaded as the local stack loads it) invoked with the REST proxy events API Gateway sends.

The whole stack's API over HTTP is LocalStack.call (tests/support/local_stack.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from blockhook.local.lambdas import LocalFunction
from tests.support.builders import UNUSED_WEBHOOK, api_event, monitor_body


class _OwnKey:
    def __repr__(self) -> str:
        return "OWN_KEY"


OWN_KEY: Any = _OwnKey()  # `key=OWN_KEY`: the client's own key; `key=None`: no key at all


@dataclass
class Answer:
    status: int
    body: Any
    raw: str
    headers: dict[str, str]  # names in lower case; a repeated header's values joined with ", "

    def error_code(self) -> str:
        """The code of the error envelope this answer must be."""
        assert isinstance(self.body, dict) and set(self.body) == {"error"}, self.raw
        error = self.body["error"]
        assert set(error) == {"code", "message", "details"}, self.raw
        assert isinstance(error["code"], str) and error["code"], self.raw
        assert isinstance(error["message"], str) and error["message"], self.raw
        assert isinstance(error["details"], list), self.raw
        return error["code"]


def assert_error(answer: Answer, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an error envelope of this status (and code); returns its error."""
    assert answer.status == status, answer.raw
    actual = answer.error_code()
    if code is not None:
        assert actual == code, answer.raw
    return answer.body["error"]


class Api:
    """Calls the API function as API Gateway would, with the first of its tenants' keys by default.

    `monitor_defaults` are fields of every monitor `create` makes, unless a call names them."""

    def __init__(self, keys: list[str], queue_url: str | None = None, **monitor_defaults: Any) -> None:
        self.keys = keys
        self.key = keys[0]
        self.queue_url = queue_url  # the queue the API sends deliveries to
        self.monitor_defaults = {"webhook_url": UNUSED_WEBHOOK, **monitor_defaults}
        self.function = LocalFunction("api", timeout_seconds=30)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = OWN_KEY,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        api_key_id: str | None = None,
    ) -> Answer:
        """One request: `body` sent as JSON, or `raw` as it is. No answer may be a 5xx."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = {"content-type": "application/json"} if data else {}
        key = self.key if key is OWN_KEY else key
        if key is not None:
            sent["x-api-key"] = key
        sent.update(headers or {})
        answer = self.function.invoke(api_event(method, path, sent, data, api_key_id=api_key_id))
        text = answer.get("body") or ""
        status = int(answer["statusCode"])
        assert status < 500, f"{method} {path[:80]} answered {status}: {text[:500]}"
        reply_headers = {name.lower(): value for name, value in (answer.get("headers") or {}).items()}
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            reply_headers[name.lower()] = ", ".join(values)
        return Answer(status, json.loads(text) if text else None, text, reply_headers)

    def post_monitor(self, body: dict[str, Any], key: str | None = OWN_KEY, idempotency_key: str | None = None) -> Answer:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        return self.call("POST", "/v1/monitors", body, key=key, headers=headers)

    def create(self, key: str | None = OWN_KEY, **fields: Any) -> dict[str, Any]:
        """A new monitor (builders.monitor_body of the defaults and `fields`); its answer must be a 201."""
        answer = self.post_monitor(monitor_body(**{**self.monitor_defaults, **fields}), key=key)
        assert answer.status == 201, answer.raw
        return answer.body

    def walk(self, path: str, query: str = "", key: str | None = OWN_KEY, limit: int | None = None) -> list[dict[str, Any]]:
        """The items of every page of a list, walked with its cursors."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = [query] if query else []
            params += [f"limit={limit}"] if limit is not None else []
            params += [f"cursor={quote(cursor)}"] if cursor else []
            answer = self.call("GET", path + ("?" + "&".join(params) if params else ""), key=key)
            assert answer.status == 200, answer.raw
            assert set(answer.body) == {"items", "next_cursor"}, answer.raw
            if limit is not None:
                assert len(answer.body["items"]) <= limit
            items += answer.body["items"]
            cursor = answer.body["next_cursor"]
            if cursor is None:
                return items

    def all_monitors(self, key: str | None = OWN_KEY, limit: int = 100) -> list[dict[str, Any]]:
        return self.walk("/v1/monitors", key=key, limit=limit)

    def monitor_names(self, key: str | None = OWN_KEY) -> list[str]:
        """The names of the tenant's monitors, all on the first page."""
        answer = self.call("GET", "/v1/monitors?limit=100", key=key)
        assert answer.status == 200, answer.raw
        assert answer.body["next_cursor"] is None
        return [item["name"] for item in answer.body["items"]]

    def all_addresses(self, monitor_id: str, key: str | None = OWN_KEY, limit: int = 1000) -> list[dict[str, Any]]:
        return self.walk(f"/v1/monitors/{monitor_id}/addresses", key=key, limit=limit)

    def deliveries(self, monitor_id: str, query: str = "", key: str | None = OWN_KEY) -> list[dict[str, Any]]:
        """The whole delivery log of a monitor (`query`: its filters and page size)."""
        return self.walk(f"/v1/monitors/{monitor_id}/deliveries", query, key=key)

    def delivery(self, monitor_id: str, delivery_id: str, key: str | None = OWN_KEY) -> Answer:
        """One delivery of a monitor in detail; its answer must be a 200."""
        answer = self.call("GET", f"/v1/monitors/{monitor_id}/deliveries/{delivery_id}", key=key)
        assert answer.status == 200, answer.raw
        return answer


def clear_api_caches() -> None:
    """Forget what the API read from its environment once, for the next environment."""
    from blockhook import wiring
    from blockhook.api import routes
    from blockhook.config import settings

    for cache in (settings, routes.known_chains, routes.rate_limiter, wiring.delivery_service):
        cache.cache_clear()


def local_api(
    patch: pytest.MonkeyPatch,
    keys: list[str],
    chains: dict[str, Any],
    monitor_defaults: dict[str, Any] | None = None,
    **env: str,
) -> Api:
    """An Api on an environment of local mode, these tenants' keys and chains, and `env`, set through `patch`
    (call clear_api_caches() once it is undone). Limits and the delivery queue are the defaults unless `env`
    names them."""
    patch.setenv("BLOCKHOOK_MODE", "local")
    patch.setenv("BLOCKHOOK_API_KEYS", ",".join(keys))
    patch.setenv("BLOCKHOOK_CHAINS", json.dumps(chains))
    for variable in (
        "BLOCKHOOK_API_KEY",
        "BLOCKHOOK_AUTH_MODE",
        "BLOCKHOOK_MAX_MONITORS_PER_TENANT",
        "BLOCKHOOK_RATE_LIMIT",
        "BLOCKHOOK_RATE_BURST",
        "BLOCKHOOK_DELIVERY_QUEUE_URL",
    ):
        patch.delenv(variable, raising=False)
    for variable, value in env.items():
        patch.setenv(variable, value)
    clear_api_caches()
    return Api(keys, env.get("BLOCKHOOK_DELIVERY_QUEUE_URL"), **(monitor_defaults or {}))
