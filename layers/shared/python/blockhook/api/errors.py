"""The error envelope of CONTRACT section 2: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def error_response(status: int, code: str, message: str, details: list[Any] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body, default=str)
    )


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as a user reads them: the field as written in the request (`filters.addresses[3]`),
    where it was (`body`, `query`, `header`, `path`) and what is wrong with it, in words. Never the input
    itself (it may hold a secret), nor pydantic's names for its own validators."""
    places: dict[tuple[Any, ...], dict[str | None, list[tuple[tuple[Any, ...], dict[str, Any]]]]] = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))
        cut = _first_branch(loc, error.get("type"))
        if cut is None:
            places.setdefault(loc, {}).setdefault(None, []).append(((), error))
        else:
            places.setdefault(loc[:cut], {}).setdefault(str(loc[cut]), []).append((loc[cut + 1 :], error))
    details: list[dict[str, Any]] = []
    for place, branches in places.items():
        if None in branches:
            found = [(place, error) for _, error in branches[None]]
        else:
            # A value one of several types may take (an address or a labelled one, a number or a tag):
            # pydantic tries each. The types the value is not are no news; if it is none of them, say
            # which it may be.
            matched = {
                branch: tried for branch, tried in branches.items()
                if not (len(tried) == 1 and not tried[0][0] and tried[0][1].get("type") in _TYPES)
            }  # fmt: skip
            if matched:
                found = [(place + _without_branches(rest), error) for tried in matched.values() for rest, error in tried]
            else:
                kinds = dict.fromkeys(_TYPES[tried[0][1]["type"]](tried[0][1]) for tried in branches.values())
                found = [(place, {"type": "one_of", "msg": "must be " + " or ".join(kinds)})]
        for loc, error in found:
            detail = {**_field(loc), "message": _message(error)}
            if detail not in details:
                details.append(detail)
    return details


def validation_summary(details: list[dict[str, Any]]) -> str:
    """The first of the details, in one sentence, and how many more there are."""
    if not details:
        return "request does not validate"
    first = details[0]
    where = first["field"] if first["field"] is not None else f"the {first['in']}"
    more = f" (and {len(details) - 1} more: see details)" if len(details) > 1 else ""
    return f"{where}: {first['message']}{more}"


_PLACES = frozenset({"body", "query", "header", "path", "cookie"})
# Union branches pydantic names by type, not by field: "function-after[normalise_address(), str]",
# "LabelledAddress", "constrained-int", "literal['safe','finalized']", or a plain type name.
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TYPE_NAMES = frozenset({"str", "int", "bool", "float", "none", "list", "dict", "bytes"})
# Errors that say only that the value is not of a type; what each type is called.
_TYPES: dict[str, Any] = {
    "string_type": lambda error: "a string",
    "int_type": lambda error: "an integer",
    "int_parsing": lambda error: "an integer",
    "int_from_float": lambda error: "an integer",
    "float_type": lambda error: "a number",
    "bool_type": lambda error: "true or false",
    "bool_parsing": lambda error: "true or false",
    "list_type": lambda error: "a list",
    "dict_type": lambda error: "an object",
    "model_type": lambda error: "an object",
    "model_attributes_type": lambda error: "an object",
    "none_required": lambda error: "null",
    "literal_error": lambda error: str((error.get("ctx") or {}).get("expected", "one of the listed values")),
}


def _is_branch(segment: Any) -> bool:
    return isinstance(segment, str) and (not _FIELD_NAME.fullmatch(segment) or segment in _TYPE_NAMES)


def _first_branch(loc: tuple[Any, ...], kind: str | None) -> int | None:
    # The last segment of an unknown or missing field is a name from (or for) the request, whatever it looks like.
    last = len(loc) - 1 if kind in ("extra_forbidden", "missing") else len(loc)
    return next((index for index in range(1, last) if _is_branch(loc[index])), None)


def _without_branches(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(segment for index, segment in enumerate(loc) if index == len(loc) - 1 or not _is_branch(segment))


def _field(loc: tuple[Any, ...]) -> dict[str, Any]:
    place, path = (str(loc[0]), loc[1:]) if loc and loc[0] in _PLACES else ("body", loc)
    field = ""
    for segment in path:
        if isinstance(segment, int) or (isinstance(segment, str) and segment.isdigit()):
            field += f"[{segment}]"
        else:
            field += ("." if field else "") + str(segment)
    return {"field": field or None, "in": place}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type") or ""
    ctx = error.get("ctx") or {}
    if kind in _TYPES:
        return "must be " + _TYPES[kind](error)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "string_too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else f"must have at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        count = ctx.get("min_length")
        return f"must have at least {count} item{'' if count == 1 else 's'}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    bounds = {
        "greater_than": ("gt", "must be greater than"),
        "greater_than_equal": ("ge", "must be at least"),
        "less_than": ("lt", "must be less than"),
        "less_than_equal": ("le", "must be at most"),
    }
    if kind in bounds:
        name, words = bounds[kind]
        return f"{words} {ctx.get(name)}"
    message = str(error.get("msg") or "is not valid")
    message = message.removeprefix("Value error, ").replace("Input should be", "must be")
    return message[:1].lower() + message[1:]
