"""The error envelope of CONTRACT section 2: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
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
    """Pydantic's errors without the offending input echoed back (it may hold secrets)."""
    details = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        details.append({"location": location, "type": error.get("type"), "message": error.get("msg")})
    return details
