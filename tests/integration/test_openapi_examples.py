"""The examples of docs/openapi.json are true: every request body and every answer with a body has one,
each validates against its own schema, and each request example is accepted by the API (the Lambda
handler against the moto server), its answer as documented."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_api_routes import api, ingested  # noqa: F401 - `api` is a fixture
from tests.support.openapi import document, errors, pointer, resolve

pytestmark = pytest.mark.integration

JSON = "application/json"


def _examples(node: Any, at: tuple = ()) -> Iterator[tuple[str, str, Any]]:
    """(where, pointer of its schema, value) of every example anywhere in the document: on media types and
    parameters (`example`, `examples` by name, possibly `$ref`s), and on schemas (a JSON Schema `examples` list)."""
    if isinstance(node, dict):
        if at[:2] != ("components", "examples"):
            if isinstance(node.get("examples"), list):
                for position, value in enumerate(node["examples"]):
                    yield f"{pointer(*at)} examples[{position}]", pointer(*at), value
            elif "schema" in node:
                for name, example in (node.get("examples") or {}).items():
                    yield f"{pointer(*at)} {name!r}", pointer(*at, "schema"), resolve(example)["value"]
                if "example" in node:
                    yield f"{pointer(*at)} example", pointer(*at, "schema"), node["example"]
        for key, value in node.items():
            yield from _examples(value, (*at, key))
    elif isinstance(node, list):
        for position, value in enumerate(node):
            yield from _examples(value, (*at, position))


EXAMPLES = list(_examples(document()))


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _request_examples() -> Iterator[tuple[str, str, str, Any]]:
    for method, path, operation in _operations():
        for name, example in operation.get("requestBody", {}).get("content", {}).get(JSON, {}).get("examples", {}).items():
            yield method, path, name, resolve(example)["value"]


REQUEST_EXAMPLES = list(_request_examples())


def test_the_document_has_examples_of_the_webhooks_and_of_every_request_and_answer():
    missing = []
    for method, path, operation in _operations():
        bodies = {"request": operation.get("requestBody", {}).get("content", {})}
        bodies.update({status: response.get("content", {}) for status, response in operation["responses"].items()})
        for what, content in bodies.items():
            missing += [f"{method} {path} {what}" for media in content.values() if not media.get("examples")]
    assert missing == []
    assert {where.split(" ")[0] for where, _, _ in EXAMPLES} >= {
        pointer("webhooks", name, "post", "requestBody", "content", JSON) for name in document()["webhooks"]
    }
    assert len(REQUEST_EXAMPLES) >= 5


@pytest.mark.parametrize(("where", "schema", "value"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES])
def test_every_example_validates_against_its_schema(where, schema, value):
    assert errors(schema, value) == []


@pytest.fixture(scope="module")
def past_blocks() -> None:
    """Ingest has seen the blocks the backfill and reconcile examples name, with room for confirmations."""
    ranges = [example for _, _, _, example in REQUEST_EXAMPLES if "from_block" in example]
    for chain_id in {example["chain_id"] for example in ranges}:
        top = max(example["to_block"] for example in ranges if example["chain_id"] == chain_id)
        ingested(chain_id, last=top + 100, head=top + 100)


def _monitor(api) -> str:  # noqa: F811 - the fixture
    """A new monitor made from the first documented create example."""
    create = next(example for method, path, _, example in REQUEST_EXAMPLES if (method, path) == ("post", "/v1/monitors"))
    answer = api.call("POST", "/v1/monitors", create)
    assert answer.status == 201, answer.raw
    return answer.body["id"]


@pytest.mark.parametrize(
    ("method", "path", "name", "example"), REQUEST_EXAMPLES, ids=[f"{m} {p} {n}" for m, p, n, _ in REQUEST_EXAMPLES]
)
def test_every_request_example_is_accepted_and_answered_as_documented(api, past_blocks, method, path, name, example):  # noqa: F811
    sent_to = path.replace("{monitor_id}", _monitor(api)) if "{monitor_id}" in path else path
    answer = api.call(method.upper(), sent_to, example)
    assert 200 <= answer.status < 300, answer.raw
    responses = document()["paths"][path][method]["responses"]
    assert str(answer.status) in responses, f"{answer.status} is not a documented answer"
    assert errors(pointer("paths", path, method, "responses", str(answer.status), "content", JSON, "schema"), answer.body) == []
