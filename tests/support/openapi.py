"""The committed OpenAPI document (docs/openapi.json), and JSON Schema validation against its schemas."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from blockhook.local.servers import REPO_ROOT

DOCUMENT_PATH = REPO_ROOT / "docs" / "openapi.json"
_URI = "urn:blockhook:openapi"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text())


def pointer(*parts: str | int) -> str:
    """The JSON pointer of a place in the document: pointer("paths", "/v1/health") == "/paths/~1v1~1health"."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


@lru_cache(maxsize=256)
def validator(at: str) -> Draft202012Validator:
    """A validator of the schema at JSON pointer `at` in the document (OpenAPI 3.1 schemas are JSON
    Schema 2020-12), its `#/components/...` refs resolved in the document."""
    registry = Registry().with_resource(_URI, Resource(document(), specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{_URI}#{at}"}, registry=registry)


def errors(at: str, value: Any) -> list[str]:
    """What is wrong with `value` as an instance of the schema at `at` (nothing: it validates)."""
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator(at).iter_errors(value)]  # fmt: skip


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its `$ref` into the document points at."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = document()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target
