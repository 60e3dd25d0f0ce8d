"""The API's OpenAPI document: what powertools generates from the routes, with this API's error
envelope in place of powertools' own error bodies (GET /v1/openapi.json, docs/openapi.json)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from blockhook.api.common import responses
from blockhook.api.models import ErrorEnvelope
from blockhook.api.resolver import PUBLIC_PATHS, app

router = Router()

# powertools' own error schemas (HTTPValidationError refers to ValidationError), replaced by ErrorEnvelope
POWERTOOLS_ERROR_SCHEMAS = frozenset({"HTTPValidationError", "ValidationError", "ResponseValidationError"})
# Documented on every 429 by openapi_dict() (routers of other modules list their own errors).
RETRY_AFTER = {
    "description": "Whole seconds to wait before the next request",
    "schema": {"type": "integer", "minimum": 1},
}


@router.get(
    "/v1/openapi.json", summary="This API's OpenAPI document", responses=responses(200, "OpenAPI 3 document")
)
def openapi_document() -> dict[str, Any]:
    return openapi_dict()


def openapi_json() -> str:
    return json.dumps(openapi_dict())


def openapi_dict() -> dict[str, Any]:
    """The document of every route of the API."""
    from blockhook.api import routes  # noqa: F401 - every route module included in `app`

    schema = app.get_openapi_schema(
        title="blockhook",
        version="0.1.0",
        summary="Blockchain address and event monitor",
        security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
    )
    document = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schemas["ErrorEnvelope"].pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    for path in PUBLIC_PATHS:
        for operation in document["paths"].get(path, {}).values():
            operation["security"] = []  # powertools drops an empty per-route list: public paths need no key
    _describe_errors_as_envelopes(document)
    from blockhook.api.openapi_webhooks import add_webhooks_and_examples  # loads the delivery code: only here

    add_webhooks_and_examples(document)
    return document


def _describe_errors_as_envelopes(document: dict[str, Any]) -> None:
    """Powertools documents its own 422 and 500 bodies; this API answers them with the error envelope.
    And: a 204 has no body, a 429 and a 503 have a Retry-After header."""
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                schema = (response.get("content") or {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").rsplit("/", 1)[-1] in POWERTOOLS_ERROR_SCHEMAS:
                    response["content"] = envelope
                    if status == "500":
                        response["description"] = "Internal error"
                if status == "204":
                    response.pop("content", None)  # no body
                if status in ("429", "503"):
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    schemas = document["components"]["schemas"]
    removed = {name: schemas.pop(name) for name in POWERTOOLS_ERROR_SCHEMAS if name in schemas}
    still_used = _references(document)
    schemas.update({name: schema for name, schema in removed.items() if name in still_used})


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    return set()
