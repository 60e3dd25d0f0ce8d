"""apply's plan: the file's monitors against the tenant's as the API answers them, and the CLI's HTTP client
(retries of 429 and 503, the error envelope, base URLs) on an in-process session."""

from __future__ import annotations

import json

import pytest
import requests

from blockhook_cli.addresses import Entry
from blockhook_cli.client import ApiError, Client, Unreachable, base_url
from blockhook_cli.plan import PlanError, make_plan, render
from blockhook_cli.spec import DEFAULT_KINDS, parse

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20


def desired(**fields):
    body = {"name": "m", "chain_ids": [1], "webhook_url": "https://example.com/hook", **fields}
    return parse({"monitors": [body]}, base=None)


def answered(monitor_id="mon_1", scope="all", **fields):
    """A monitor as GET /v1/monitors answers it, with the API's defaults."""
    return {
        "id": monitor_id, "name": "m", "chain_ids": [1], "webhook_url": "https://example.com/hook",
        "filters": {"address_scope": scope, "kinds": list(DEFAULT_KINDS), "contracts": [], "event_signatures": []},
        "address_count": 0, "condition": None, "confirmations": None, "active": True, **fields,
    }  # fmt: skip


def no_addresses(monitor_id):
    raise AssertionError(f"the plan asked for the addresses of {monitor_id}")


def test_a_monitor_as_the_api_answers_it_is_unchanged():
    plan = make_plan(desired(), [answered()], no_addresses)
    assert [m.action for m in plan.monitors] == ["unchanged"] and not plan.changes_anything


def test_only_the_fields_that_differ_are_patched_and_set_like_lists_compare_as_sets():
    kinds = ["erc20_transfer", "native_transfer"]
    current = answered(filters={"address_scope": "all", "kinds": kinds, "contracts": [A], "event_signatures": []})
    same = make_plan(desired(filters={"kinds": list(reversed(kinds)), "contracts": [A.upper().replace("0X", "0x")]}), [current], no_addresses)
    assert same.monitors[0].action == "unchanged"
    changed = make_plan(
        desired(filters={"kinds": kinds, "contracts": [B]}, confirmations="safe", webhook_url="https://other"),
        [current], no_addresses,
    )  # fmt: skip
    (monitor,) = changed.monitors
    assert monitor.action == "update"
    assert monitor.patch_body() == {"webhook_url": "https://other", "confirmations": "safe", "filters": {"contracts": [B]}}
    lines = render(changed, dry_run=True)
    assert "    webhook_url: 'https://example.com/hook' -> 'https://other'" in lines
    assert "    confirmations: null -> 'safe'" in lines
    assert lines[-1] == "Plan: 0 to create, 1 to update, 0 to delete, 0 unchanged."


def test_addresses_are_synced_by_difference_and_a_missing_label_keeps_the_one_there():
    current = answered(scope="list", address_count=3)
    listed = [{"address": A, "label": "old"}, {"address": B, "label": "keep"}, {"address": C, "label": None}]
    plan = make_plan(
        desired(filters={"addresses": [{"address": A, "label": "new"}, B, "0x" + "dd" * 20]}),
        [current], lambda monitor_id: listed,
    )  # fmt: skip
    (monitor,) = plan.monitors
    assert monitor.add == [Entry(A, "new"), Entry("0x" + "dd" * 20, None)] and monitor.relabelled == 1
    assert monitor.remove == [C] and monitor.patch_body() == {}
    assert "    addresses: 1 to add, 1 to remove, 1 relabelled" in render(plan, dry_run=True)


def test_the_address_scope_changes_with_a_patch():
    to_list = make_plan(desired(filters={"addresses": [A]}), [answered(scope="all")], no_addresses).monitors[0]
    assert to_list.scope == ("all", "list") and to_list.add == [Entry(A, None)]
    to_all = make_plan(desired(), [answered(scope="list", address_count=5)], no_addresses).monitors[0]
    assert to_all.scope == ("list", "all") and to_all.action == "update"


def test_create_prune_and_what_the_api_cannot_do():
    other = answered("mon_2", name="other")
    plan = make_plan(desired(), [other], no_addresses)
    assert [m.action for m in plan.monitors] == ["create"] and plan.untouched == 1
    pruned = make_plan(desired(), [other], no_addresses, prune=True)
    assert [(m.action, m.monitor_id) for m in pruned.monitors] == [("create", None), ("delete", "mon_2")]
    with pytest.raises(PlanError, match="2 monitors of that name"):
        make_plan(desired(), [answered("mon_1"), answered("mon_3")], no_addresses)
    with pytest.raises(PlanError, match="chains cannot be changed"):
        make_plan(desired(), [answered(chain_ids=[56])], no_addresses)


class Session:
    """Answers queued responses in order, recording each request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append((method, url, kwargs))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        response = requests.Response()
        response.status_code = status
        response._content = b"" if body is None else json.dumps(body).encode()
        response.headers.update(headers)
        return response


def test_429_and_503_are_retried_after_their_retry_after_and_creates_keep_their_idempotency_key():
    waits = []
    session = Session((429, {"error": {"code": "rate_limited", "message": "slow", "details": []}}, {"Retry-After": "2"}),
                      (503, {"error": {"code": "unavailable", "message": "busy", "details": []}}, {}),
                      (201, {"id": "mon_1"}, {}))  # fmt: skip
    client = Client("http://127.0.0.1:8080/v1/", "key", sleep=waits.append, session=session)
    assert client.post("/monitors", {"name": "ü"}) == {"id": "mon_1"}
    assert waits == [2.0, 1.0]
    urls = {url for _, url, _ in session.sent}
    assert urls == {"http://127.0.0.1:8080/v1/monitors"}
    keys = {kwargs["headers"]["Idempotency-Key"] for _, _, kwargs in session.sent}
    assert len(keys) == 1  # the same create, retried
    assert session.sent[0][2]["data"] == '{"name": "ü"}'.encode()  # UTF-8, not \u escapes


def test_errors_are_the_envelope_and_no_answer_is_unreachable():
    details = [{"field": "name", "in": "body", "message": "too long"}]
    client = Client("http://h", "k", sleep=lambda s: None, session=Session(
        (422, {"error": {"code": "validation_failed", "message": "name: too long", "details": details}}, {}),
        (403, {"message": "Forbidden"}, {}),
        requests.ConnectionError("Connection refused"),
    ))  # fmt: skip
    with pytest.raises(ApiError) as raised:
        client.get("/monitors")
    assert (raised.value.code, raised.value.details) == ("validation_failed", details)
    with pytest.raises(ApiError, match="http_403: Forbidden"):
        client.get("/monitors")
    with pytest.raises(Unreachable, match="connection refused"):
        client.get("/monitors")


def test_base_urls():
    assert base_url("http://127.0.0.1:8080") == base_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert base_url("https://x.execute-api.us-east-1.amazonaws.com/prod/v1") == "https://x.execute-api.us-east-1.amazonaws.com/prod"
    with pytest.raises(ValueError):
        base_url("127.0.0.1:8080")


def test_the_cli_runs_without_the_servers_package():
    """What `pip install ./cli` gives a user: the package alone, which never imports `blockhook`."""
    import subprocess
    import sys

    from blockhook.local.servers import REPO_ROOT

    probe = "import sys, blockhook_cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] == 'blockhook'))"
    ran = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(REPO_ROOT / "cli")},
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert ran.stdout.strip() == "[]"
