"""Schema-driven fuzzing of the live local stack's API from the committed OpenAPI document.

schemathesis generates requests for every operation of docs/openapi.json (a bounded, derandomized
number per operation) and sends them over HTTP to the stack `make up` runs; every answer must be
no 5xx, have a status the document lists for that operation, and a body and headers that match
what it documents. Each operation is fuzzed with valid requests and with requests that break the
document (negative mode: these must be refused with a documented 4xx). Operations on a monitor also
run with a real monitor's id, so that their bodies and queries reach the code behind the look-up.

A hand-written pass then sends what schemathesis does not generate (ODD_REQUESTS): deep nesting, odd
content types and charsets, huge numbers, NaN, duplicate keys, invalid UTF-8, loose query integers and
methods a known path does not take; each must get the status it lists, in the error envelope.

The numbers (requests, statuses, 5xx, failures) go to bench/results/api_fuzz.json.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from blockhook.local.servers import REPO_ROOT, free_port
from tests.support.local_stack import running_stack

pytestmark = pytest.mark.e2e

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "api_fuzz.json"
# Per operation and pass; more for a deeper run by hand: BLOCKHOOK_FUZZ_EXAMPLES=500 pytest tests/e2e/test_api_fuzz.py
MAX_EXAMPLES = int(os.environ.get("BLOCKHOOK_FUZZ_EXAMPLES", "25"))
NEGATIVE = GenerationMode.NEGATIVE
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Reads first, PATCH (which may change the real monitor's webhook URL) after the test send, DELETE last.
METHOD_ORDER = {"GET": 0, "POST": 1, "PATCH": 2, "DELETE": 3}


def _operations(schema) -> list:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (METHOD_ORDER.get(op.method.upper(), 1), op.path))


class Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.by_operation: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.failures: list[str] = []
        self.nothing_to_break: list[str] = []

    def record(self, label: str, case, response) -> None:
        self.requests += 1
        self.statuses[response.status_code] += 1
        self.by_operation[label] += 1
        if response.status_code >= 500:
            request = case.as_curl_command() if case is not None else f"{response.request.method} {response.request.url}"
            self.server_errors.append(f"{label}: {response.status_code} {response.text[:300]}\n{request}")


def _fuzz(
    operation, base_url: str, key: str, tally: Tally, session: requests.Session, suffix: str = "", **options: Any
) -> None:
    label = f"{operation.method.upper()} {operation.path}{suffix}"
    strategy = operation.as_strategy(**options)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # failures are collected below, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        headers = {"x-api-key": key}
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=30)
        tally.record(label, case, response)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as failure:
            tally.failures.append(f"{label}:\n{str(failure)[:2000]}")

    try:
        run()
    except Unsatisfiable:
        # Nothing in the operation can be made invalid (GET /v1/health has no input at all).
        assert options.get("generation_mode") is NEGATIVE, f"{label}: no request could be generated"
        tally.nothing_to_break.append(label)


_MONITOR = b'"name": "odd", "chain_ids": [31337], "webhook_url": "http://127.0.0.1:9/hook"'


# (label, method, path ({id}: the real monitor), content type or None for none, body, expected status)
ODD_REQUESTS: list[tuple[str, str, str, str | None, bytes, int]] = [
    ("deep nesting: 100,000 nested lists", "POST", "/v1/monitors", "application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    ("deep nesting: 50,000 nested objects", "POST", "/v1/monitors", "application/json", b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, 400),
    ("deep nesting: inside a field", "PATCH", "/v1/monitors/{id}", "application/json", b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", 400),
    ("deep nesting: inside addresses", "POST", "/v1/monitors/{id}/addresses", "application/json", b'{"add": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    ("content type: multipart without boundary", "POST", "/v1/monitors", "multipart/form-data", b"--x\r\n\r\nbody", 400),
    ("content type: text/plain", "POST", "/v1/monitors", "text/plain", b"{" + _MONITOR + b"}", 400),
    ("content type: form", "POST", "/v1/monitors", "application/x-www-form-urlencoded", b"name=odd&chain_ids=31337", 422),
    ("content type: none", "POST", "/v1/monitors/{id}/backfill", None, b'{"from_block": "x"}', 422),
    ("charset: latin-1", "POST", "/v1/monitors", "application/json; charset=latin-1", '{"name": "caf\u00e9"}'.encode("latin-1"), 400),
    ("charset: utf-16", "POST", "/v1/monitors", "application/json; charset=utf-16", '{"name": "odd"}'.encode("utf-16"), 400),
    ("invalid UTF-8", "POST", "/v1/monitors/{id}/addresses", "application/json", b'{"add": ["\xff\xfe\xfd"]}', 400),
    ("lone surrogate escape", "PATCH", "/v1/monitors/{id}", "application/json", b'{"name": "\\ud800"}', 422),
    ("huge number: 10**400", "POST", "/v1/monitors", "application/json", b'{"name": "odd", "webhook_url": "http://127.0.0.1:9/h", "chain_ids": [1' + b"0" * 400 + b"]}", 422),
    ("huge number: 10**5000", "POST", "/v1/monitors/{id}/backfill", "application/json", b'{"from_block": 1' + b"0" * 5_000 + b', "to_block": 1}', 400),
    ("huge number: 1e308", "POST", "/v1/monitors/{id}/reconcile", "application/json", b'{"from_block": 1e308, "to_block": 1}', 422),
    ("huge number: 1e400", "POST", "/v1/monitors/{id}/backfill", "application/json", b'{"from_block": 1e400, "to_block": 1}', 422),
    ("number: -0", "PATCH", "/v1/monitors/{id}", "application/json", b'{"confirmations": -0.0}', 422),
    ("number: -0 integer", "PATCH", "/v1/monitors/{id}", "application/json", b'{"confirmations": -0}', 200),
    ("number: NaN literal", "PATCH", "/v1/monitors/{id}", "application/json", b'{"confirmations": NaN}', 422),
    ("number: Infinity literal", "POST", "/v1/monitors/{id}/backfill", "application/json", b'{"from_block": Infinity, "to_block": 1}', 422),
    ("number as a string", "POST", "/v1/monitors", "application/json", b'{"chain_ids": ["31337"], "name": "odd", "webhook_url": "http://127.0.0.1:9/h"}', 422),
    ("boolean as a string", "PATCH", "/v1/monitors/{id}", "application/json", b'{"active": "true"}', 422),
    ("duplicate keys", "PATCH", "/v1/monitors/{id}", "application/json", b'{"confirmations": 1, "confirmations": "x"}', 422),
    ("duplicate keys, the last valid", "PATCH", "/v1/monitors/{id}", "application/json", b'{"name": 5, "name": "fuzz target"}', 200),
    ("query: 1e3", "GET", "/v1/monitors?limit=1e3", None, b"", 422),
    ("query: leading space", "GET", "/v1/monitors/{id}/addresses?limit=%205", None, b"", 422),
    ("query: 10**30", "GET", "/v1/monitors/{id}/deliveries?limit=1" + "0" * 30, None, b"", 422),
    ("wrong method: PUT /v1/monitors", "PUT", "/v1/monitors", "application/json", b"{}", 405),
    ("wrong method: DELETE /v1/monitors", "DELETE", "/v1/monitors", None, b"", 405),
    ("wrong method: POST /v1/health", "POST", "/v1/health", None, b"", 405),
    ("wrong method: PUT a monitor", "PUT", "/v1/monitors/{id}", "application/json", b"{}", 405),
    ("wrong method: DELETE addresses", "DELETE", "/v1/monitors/{id}/addresses", None, b"", 405),
    ("wrong method: GET rotate-secret", "GET", "/v1/monitors/{id}/rotate-secret", None, b"", 405),
    ("wrong method: PATCH /v1/chains", "PATCH", "/v1/chains", None, b"", 405),
    ("wrong method: OPTIONS /v1/openapi.json", "OPTIONS", "/v1/openapi.json", None, b"", 405),
    ("wrong method: TRACE deliveries", "TRACE", "/v1/monitors/{id}/deliveries", None, b"", 405),
]


def _send_odd_requests(base_url: str, key: str, monitor_id: str, tally: Tally, session: requests.Session) -> None:
    for label, method, path, content_type, body, expected in ODD_REQUESTS:
        headers = {"x-api-key": key}
        if content_type is not None:
            headers["content-type"] = content_type
        url = base_url + path.replace("{id}", monitor_id)
        # requests would add a content type of its own to a body; prepared by hand, it sends what is here.
        prepared = requests.Request(method, url, headers=headers, data=body or None).prepare()
        if content_type is None:
            prepared.headers.pop("Content-Type", None)
        response = session.send(prepared, timeout=60)
        tally.record(f"odd: {label}", None, response)
        if response.status_code >= 500:
            continue  # counted as a server error by record()
        problem = None
        if response.status_code != expected:
            problem = f"answered {response.status_code}, not {expected}"
        elif expected >= 400:
            error = response.json().get("error") if response.headers.get("content-type") == "application/json" else None
            if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
                problem = "not the error envelope"
            elif expected == 405 and not response.headers.get("Allow"):
                problem = "405 without an Allow header"
        if problem:
            tally.failures.append(f"odd: {label}: {problem}: {response.text[:300]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # A webhook URL on loopback where nothing listens: test sends get no answer, quickly.
    with running_stack(tmp_path_factory.mktemp("fuzz-stack")) as local:
        yield local


def test_fuzzing_the_live_api_finds_no_5xx_and_no_undocumented_answer(stack, record_property):
    schema = schemathesis.openapi.from_path(DOCUMENT)
    base_url = stack.api.removesuffix("/v1")
    session = requests.Session()
    monitor = stack.create_monitor(
        {
            "name": "fuzz target",
            "chain_ids": [31337],
            "webhook_url": f"http://127.0.0.1:{free_port()}/hook",
            "filters": {"addresses": ["0x" + "ab" * 20]},
        }
    )
    tally = Tally()
    started = time.monotonic()
    operations = _operations(schema)
    # First, while the real monitor exists (the fuzzing below may delete it).
    _send_odd_requests(base_url, stack.api_key, monitor["id"], tally, session)
    for operation in operations:
        _fuzz(operation, base_url, stack.api_key, tally, session)
        # Requests that break the document: each must be refused with a documented 4xx, never a 5xx.
        _fuzz(operation, base_url, stack.api_key, tally, session, " (negative)", generation_mode=NEGATIVE)
    for operation in operations:
        if "{monitor_id}" in operation.path:
            real = {"monitor_id": monitor["id"]}
            _fuzz(operation, base_url, stack.api_key, tally, session, " (real monitor)", path_parameters=real)
    seconds = round(time.monotonic() - started, 1)

    results = {
        "document": str(DOCUMENT.relative_to(REPO_ROOT)),
        "schemathesis": schemathesis.__version__,
        "operations": len(operations),
        "max_examples_per_operation_and_pass": MAX_EXAMPLES,
        "checks": [check.__name__ for check in CHECKS],
        "requests": tally.requests,
        "server_errors": len(tally.server_errors),
        "check_failures": len(tally.failures),
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "requests_by_operation": dict(sorted(tally.by_operation.items())),
        "odd_requests": len(ODD_REQUESTS),
        "seconds": seconds,
        "no_negative_requests_possible": tally.nothing_to_break,
        "server_error_sample": tally.server_errors[:5],
        "failure_sample": tally.failures[:5],
    }
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    for name in ("requests", "server_errors", "check_failures", "seconds"):
        record_property(name, results[name])
    print(
        f"\nAPI fuzz: {tally.requests} requests over {len(operations)} operations in {seconds} s, "
        f"{len(tally.server_errors)} 5xx, {len(tally.failures)} check failures; statuses {results['statuses']}"
    )

    assert tally.requests >= len(operations) * 5, "the fuzzer sent too little to mean anything"
    assert not tally.server_errors, "5xx answers:\n\n" + "\n\n".join(tally.server_errors[:10])
    assert not tally.failures, "answers the document does not allow:\n\n" + "\n\n".join(tally.failures[:10])
