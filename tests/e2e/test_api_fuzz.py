"""Schema-driven fuzzing of the live local stack's API from the committed OpenAPI document.

schemathesis generates requests for every operation of docs/openapi.json (a bounded, derandomized
number per operation) and sends them over HTTP to the stack `make up` runs; every answer must be
no 5xx, have a status the document lists for that operation, and a body and headers that match
what it documents. Each operation is fuzzed with valid requests and with requests that break the
document (negative mode: these must be refused with a documented 4xx). Operations on a monitor also
run with a real monitor's id, so that their bodies and queries reach the code behind the look-up.

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
            self.server_errors.append(f"{label}: {response.status_code} {response.text[:300]}\n{case.as_curl_command()}")


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
