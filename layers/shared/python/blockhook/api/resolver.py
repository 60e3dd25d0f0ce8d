"""The API's resolver: its middleware (body size, API key, throttle) and the one table that turns
errors into answers in the error envelope. The routes are in the *_routes modules, which api/routes.py
brings together."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from blockhook.api import monitor_service as rules
from blockhook.api.auth import Unauthorized, resolve_tenant
from blockhook.api.errors import ApiError, error_response, validation_details, validation_summary
from blockhook.api.limits import MAX_BODY_BYTES
from blockhook.api.rate_limit import RateLimiter
from blockhook.config import settings
from blockhook.store import monitors as monitor_store
from blockhook.store.backfills import BackfillConflict
from blockhook.store.idempotency import IdempotencyConflict, IdempotencyInProgress
from blockhook.store.paging import InvalidCursor
from blockhook.store.reconciles import ReconcileConflict
from blockhook.store.secret_box import SecretBoxError

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/v1/health"})

# A response that fails its own model is our bug: 500, not the 422 powertools gives by default.
app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)


def tenant() -> str:
    """The caller's tenant, set by the middleware before any route runs."""
    return app.context["tenant_id"]


def _refusal() -> Response | None:
    """413 for an oversized body, 401 without a valid key; else None, with the tenant in the context.

    Called by the middleware and again by the answers to requests that cannot be read: powertools
    validates the request before any middleware runs, and a caller without a key must learn that first."""
    event = app.current_event
    if _body_bytes(event.body or "", bool(event.is_base64_encoded)) > MAX_BODY_BYTES:
        return error_response(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if event.path in PUBLIC_PATHS:
        return None
    try:
        tenant_id = resolve_tenant(
            settings().auth_mode,
            event.headers or {},
            event.raw_event.get("requestContext") or {},
            settings().api_keys,
            settings().tenant_keys,
        )
    except Unauthorized as refused:
        return error_response(401, "unauthorized", str(refused))
    app.append_context(tenant_id=tenant_id)
    return _throttled(tenant_id)


def _throttled(tenant_id: str) -> Response | None:
    """429 once the tenant is over its rate, locally; in the cloud API Gateway's usage plan does this
    before the function runs. Each request is counted once, whichever path calls _refusal."""
    config = settings()
    if config.auth_mode != "local" or app.context.get("rate_counted"):
        return None
    app.append_context(rate_counted=True)
    wait = rate_limiter(config.rate_limit, config.rate_burst).acquire(tenant_id)
    if not wait:
        return None
    refusal = error_response(
        429,
        "rate_limited",
        f"over {config.rate_limit:g} requests a second (bursts of {config.rate_burst}) for this API key",
        [{"retry_after_seconds": wait}],
    )
    refusal.headers["Retry-After"] = str(wait)
    return refusal


@lru_cache(maxsize=4)
def rate_limiter(rate: float, burst: int) -> RateLimiter:
    """The process's buckets for these numbers (the API function's instance, or the local stack)."""
    return RateLimiter(rate, burst)


def _body_bytes(body: str, base64_encoded: bool) -> int:
    if base64_encoded:
        return len(body) * 3 // 4 - body[-2:].count("=")
    return len(body.encode())


def _authenticate(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    refusal = _refusal()
    if refusal is None:
        refusal = _loose_numbers()
    if refusal is not None:
        return refusal
    return next_middleware(app)


_DECIMAL = re.compile(r"[0-9]+")


def _loose_numbers() -> Response | None:
    """422 for an integer query parameter not written in decimal digits alone.

    Query values are text, and pydantic reads text leniently into an integer (" 5", "+5", "5_000");
    this runs after powertools' validation, which has refused what is no integer at all."""
    route = app.context.get("_route")
    query = app.current_event.query_string_parameters or {}
    if route is None or not query or route.func.__name__ == "not_found_handler":
        return None
    details = [
        {"field": field.alias, "in": "query", "message": "must be a whole number written in decimal digits"}
        for field in route.dependant.query_params
        if field.field_info.annotation is int
        and field.alias in query
        and not _DECIMAL.fullmatch(query[field.alias])
    ]
    if not details:
        return None
    return error_response(422, "validation_failed", validation_summary(details), details)


app.use(middlewares=[_authenticate])


# --- the error table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """How an error is answered: `code` None is the error's own code; `message` is formatted with the
    error as `{error}`."""

    status: int
    code: str | None = None
    message: str = "{error}"


def _answer_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details)


def _answer_refused(status: int) -> Callable[[rules.Refused], Response]:
    def answer(error: rules.Refused) -> Response:
        return error_response(status, error.code, error.message, error.details)

    return answer


def _answer_validation_error(error: RequestValidationError) -> Response:
    errors = error.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    details = validation_details(errors)
    return error_response(422, "validation_failed", validation_summary(details), details)


def _answer_value_error(error: ValueError) -> Response:
    # powertools raises a bare ValueError while it reads a body it cannot take apart: a multipart/form-data
    # content type without its boundary, or JSON with an integer of more digits than Python converts
    # (4300). Any other ValueError is a bug of ours.
    frames = traceback.extract_tb(error.__traceback__)
    if not any(frame.name == "_get_body" and frame.filename.endswith(_VALIDATION_MODULE) for frame in frames):
        return _answer_internal_error(error)
    if frames[-1].filename.endswith(_VALIDATION_MODULE):
        answer = error_response(
            400, "unsupported_content_type", f"request bodies are JSON: send content-type application/json ({error})"
        )
    elif "integer string conversion" in str(error):
        answer = error_response(400, "invalid_json", "request body holds an integer of more than 4300 digits")
    else:
        answer = error_response(400, "invalid_json", "request body is not valid JSON")
    return _refused_first(answer)


_VALIDATION_MODULE = "aws_lambda_powertools/event_handler/middlewares/openapi_validation.py"


def _answer_service_error(error: ServiceError) -> Response:
    # powertools' HTTP errors (BadRequestError, ...) would otherwise reach the catch-all below.
    try:
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "error"
    return error_response(error.status_code, code, error.msg)


def _answer_not_found(_: NotFoundError) -> Response:
    # A path the API serves, with a method it does not serve there, is a 405 that says which it does.
    path = app.current_event.path
    allowed = sorted({route.method for route in app._static_routes + app._dynamic_routes if route.rule.match(path)})
    if not allowed:
        return error_response(404, "not_found", "no such route")
    method = app.current_event.http_method.upper()
    response = error_response(
        405, "method_not_allowed", f"{path} does not take {method}: it takes {', '.join(allowed)}", [{"allow": allowed}]
    )
    response.headers["Allow"] = ", ".join(allowed)
    return response


def _answer_unavailable(error: Exception) -> Response:
    # DynamoDB throttled past botocore's retries, KMS or the network failing: nothing was lost and a
    # retry may well succeed, which is what 503 says. The cause goes to the log, not to the caller.
    logger.warning("a dependency failed: %s", _cause(error))
    response = error_response(503, "unavailable", "a storage or key service is busy or unreachable; retry shortly")
    response.headers["Retry-After"] = "1"
    return response


def _cause(error: Exception) -> str:
    code = getattr(error, "cause_response_code", None)  # PynamoDB's wrapper of a botocore error
    if code is None and isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
    return f"{error.__class__.__name__} ({code})" if code else f"{error.__class__.__name__}: {error}"


def _answer_response_validation_error(error: ResponseValidationError) -> Response:
    logger.error("response does not match its model: %s", validation_details(error.errors()))
    return error_response(500, "internal_error", "internal error")


def _answer_internal_error(error: Exception) -> Response:
    # Last resort, so that even a failure answers the error envelope; the trace goes to the log.
    logger.exception("unhandled error in the API", exc_info=error)
    return error_response(500, "internal_error", "internal error")


# Each error that may reach the resolver, and its answer: an Answer where the status, code and message
# are known from the class alone, else the function that builds it. Looked up along the error's class
# hierarchy, most specific first (a ConditionError is a ValueError, but not answered as one).
ERROR_ANSWERS: dict[type[BaseException], Answer | Callable[..., Response]] = {
    ApiError: _answer_api_error,
    rules.Invalid: _answer_refused(422),
    rules.Conflict: _answer_refused(409),
    rules.TooLarge: _answer_refused(413),
    # Deleted between the request's read of it and its write: as gone as one never made.
    monitor_store.MonitorNotFound: Answer(404, "not_found", "no monitor {error}"),
    monitor_store.WatchesEveryParty: Answer(409, "watches_every_party"),
    monitor_store.AddressChangeBusy: Answer(409, "address_change_in_progress"),
    BackfillConflict: Answer(409, "backfill_running"),
    ReconcileConflict: Answer(409, "reconcile_running"),
    IdempotencyConflict: Answer(409, "idempotency_conflict"),
    IdempotencyInProgress: Answer(409, "idempotency_in_progress"),
    InvalidCursor: Answer(400, "invalid_cursor"),
    # The request as read by powertools, before any middleware ran.
    RequestValidationError: _answer_validation_error,
    # powertools decodes the body as UTF-8 before parsing it, outside its JSON error handling.
    UnicodeDecodeError: Answer(400, "invalid_json", "request body is not UTF-8 JSON"),
    RequestUnsupportedContentType: Answer(
        400, "unsupported_content_type", "request bodies are JSON: send content-type application/json"
    ),
    # JSON nested thousands deep: the parser (or pydantic after it) runs out of stack on the input.
    RecursionError: Answer(400, "invalid_json", "request body is nested too deeply"),
    ValueError: _answer_value_error,
    NotFoundError: _answer_not_found,
    ServiceError: _answer_service_error,
    PynamoDBException: _answer_unavailable,
    ClientError: _answer_unavailable,
    BotoCoreError: _answer_unavailable,
    SecretBoxError: _answer_unavailable,
    IdempotencyPersistenceLayerError: _answer_unavailable,
    ResponseValidationError: _answer_response_validation_error,
    rules.ConfigurationError: Answer(500, "configuration"),
    Exception: _answer_internal_error,
}
# Raised while powertools reads the request, before any middleware ran: a caller without a valid key,
# or with a body over the limit, must learn that first.
UNREAD_REQUEST_ERRORS = (RequestValidationError, UnicodeDecodeError, RequestUnsupportedContentType, RecursionError)


def answer_error(error: Exception) -> Response:
    """The answer ERROR_ANSWERS gives `error`."""
    for cls in type(error).__mro__:
        entry = ERROR_ANSWERS.get(cls)
        if entry is None:
            continue
        if isinstance(entry, Answer):
            code = entry.code or getattr(error, "code", "error")
            response = error_response(entry.status, code, entry.message.format(error=error))
        else:
            response = entry(error)
        return _refused_first(response) if issubclass(cls, UNREAD_REQUEST_ERRORS) else response
    return _answer_internal_error(error)


def _refused_first(answer: Response) -> Response:
    """The answer to a request powertools could not read, unless its caller is refused anyway."""
    refusal = _refusal()
    return refusal if refusal is not None else answer


app.exception_handler(list(ERROR_ANSWERS))(answer_error)
