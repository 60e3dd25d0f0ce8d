"""The REST API (CONTRACT section 2) as a powertools resolver: routes, auth, errors."""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from functools import lru_cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from blockhook.api.auth import Unauthorized, resolve_tenant
from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError, error_response, validation_details
from blockhook.api.models import (
    MAX_ADDRESSES_PER_CALL,
    MAX_ADDRESSES_PER_MONITOR,
    AddressChange,
    AddressChangeResult,
    AddressPage,
    BackfillOut,
    BackfillRequest,
    ChainList,
    ChainStatus,
    ErrorEnvelope,
    Filters,
    Health,
    LabelledAddress,
    MonitorCreate,
    MonitorDetail,
    MonitorOut,
    MonitorPage,
    MonitorPatch,
    MonitorWithSecret,
    ReconcileOut,
    ReconcileRequest,
)
from blockhook.api.presenters import (
    backfill_out,
    monitor_detail,
    monitor_out,
    monitor_with_secret,
    reconcile_out,
)
from blockhook.api.rate_limit import RateLimiter
from blockhook.chain.kinds import TRACE_KINDS
from blockhook.chain.registry import DEFAULT_CONFIRMATIONS, ChainConfig, load_chains
from blockhook.config import settings
from blockhook.delivery.url_policy import WebhookUrlRefused, validate_webhook_url
from blockhook.matching.conditions import ConditionError, cached_condition
from blockhook.store import monitors as store
from blockhook.store.backfills import BackfillConflict, backfill_reach, start_backfill
from blockhook.store.chain_state import Checkpoint, load_checkpoint, load_node_heads, serves_traces, stalled
from blockhook.store.deliveries import sequence_marks
from blockhook.store.idempotency import MAX_KEY_LENGTH, IdempotencyConflict, IdempotencyInProgress, run_once
from blockhook.store.matches import matcher_progress
from blockhook.store.models import MonitorModel
from blockhook.store.paging import InvalidCursor
from blockhook.store.reconciles import ReconcileConflict, start_reconcile
from blockhook.store.secret_box import SecretBoxError, configured_secret_box

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
PUBLIC_PATHS = frozenset({"/v1/health"})
# powertools' own error schemas (HTTPValidationError refers to ValidationError), replaced by ErrorEnvelope
POWERTOOLS_ERROR_SCHEMAS = frozenset({"HTTPValidationError", "ValidationError", "ResponseValidationError"})
# Documented on every 429 by openapi_dict() (routers of other modules list their own errors).
RETRY_AFTER = {
    "description": "Whole seconds to wait before the next request",
    "schema": {"type": "integer", "minimum": 1},
}


# A response that fails its own model is our bug: 500, not the 422 powertools gives by default.
app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)


@lru_cache(maxsize=1)
def known_chains() -> dict[int, ChainConfig]:
    return {chain.chain_id: chain for chain in load_chains(chain_id_of=_no_rpc)}


def _no_rpc(url: str) -> int:
    # The API never calls a node; its environment lists the chains with their ids.
    raise ApiError(500, "configuration", "BLOCKHOOK_CHAINS must list chain ids for the API")


def _refusal() -> Response | None:
    """413 for an oversized body, 401 without a valid key; else None, with the tenant in the context.

    Called by the middleware and again by the validation error handlers: powertools validates the
    request before any middleware runs, and a caller without a key must learn that first."""
    event = app.current_event
    if _body_bytes(event.body or "", bool(event.is_base64_encoded)) > MAX_BODY_BYTES:
        return error_response(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if event.path in PUBLIC_PATHS:
        return None
    try:
        tenant = resolve_tenant(
            settings().auth_mode,
            event.headers or {},
            event.raw_event.get("requestContext") or {},
            settings().api_keys,
        )
    except Unauthorized as refused:
        return error_response(401, "unauthorized", str(refused))
    app.append_context(tenant_id=tenant)
    return _throttled(tenant)


def _throttled(tenant: str) -> Response | None:
    """429 once the tenant is over its rate, locally; in the cloud API Gateway's usage plan does this
    before the function runs. Each request is counted once, whichever path calls _refusal."""
    config = settings()
    if config.auth_mode != "local" or app.context.get("rate_counted"):
        return None
    app.append_context(rate_counted=True)
    wait = rate_limiter(config.rate_limit, config.rate_burst).acquire(tenant)
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
    if refusal is not None:
        return refusal
    return next_middleware(app)


app.use(middlewares=[_authenticate])


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details)


@app.exception_handler(RequestValidationError)
def _validation_error(error: RequestValidationError) -> Response:
    refusal = _refusal()
    if refusal is not None:
        return refusal
    errors = error.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    return error_response(422, "validation_failed", "request does not validate", validation_details(errors))


@app.exception_handler(UnicodeDecodeError)
def _undecodable_body(error: UnicodeDecodeError) -> Response:
    # powertools decodes the body as UTF-8 before parsing it, outside its JSON error handling.
    refusal = _refusal()
    if refusal is not None:
        return refusal
    return error_response(400, "invalid_json", "request body is not UTF-8 JSON")


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response:
    refusal = _refusal()
    if refusal is not None:
        return refusal
    return error_response(
        400, "unsupported_content_type", "request bodies are JSON: send content-type application/json"
    )


@app.exception_handler(RecursionError)
def _too_deep(error: RecursionError) -> Response:
    # JSON nested thousands deep: the parser (or pydantic after it) runs out of stack on the input.
    refusal = _refusal()
    if refusal is not None:
        return refusal
    return error_response(400, "invalid_json", "request body is nested too deeply")


@app.exception_handler(ValueError)
def _unreadable_body(error: ValueError) -> Response:
    # powertools' request validation raises a bare ValueError for a body it cannot take apart (a
    # multipart/form-data content type without its boundary); any other ValueError is a bug of ours.
    if not _raised_in(error, "aws_lambda_powertools.event_handler.middlewares.openapi_validation"):
        return _internal_error(error)
    refusal = _refusal()
    if refusal is not None:
        return refusal
    return error_response(
        400, "unsupported_content_type", f"request bodies are JSON: send content-type application/json ({error})"
    )


def _raised_in(error: BaseException, module: str) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].filename.endswith(module.replace(".", "/") + ".py")


@app.exception_handler(store.MonitorNotFound)
def _monitor_gone(error: store.MonitorNotFound) -> Response:
    # Deleted between the request's read of it and its write: as gone as one never made.
    return error_response(404, "not_found", f"no monitor {error}")


@app.exception_handler(ResponseValidationError)
def _response_validation_error(error: ResponseValidationError) -> Response:
    logger.error("response does not match its model: %s", validation_details(error.errors()))
    return error_response(500, "internal_error", "internal error")


@app.exception_handler(InvalidCursor)
def _invalid_cursor(error: InvalidCursor) -> Response:
    return error_response(400, "invalid_cursor", str(error))


@app.not_found
def _not_found(_: Exception) -> Response:
    return error_response(404, "not_found", "no such route")


@app.exception_handler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    # powertools' HTTP errors (BadRequestError, ...) would otherwise reach the catch-all below.
    try:
        code = HTTPStatus(error.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        code = "error"
    return error_response(error.status_code, code, error.msg)


@app.exception_handler([PynamoDBException, ClientError, BotoCoreError, SecretBoxError, IdempotencyPersistenceLayerError])
def _dependency_unavailable(error: Exception) -> Response:
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


@app.exception_handler(Exception)
def _internal_error(error: Exception) -> Response:
    # Last resort, so that even a failure answers the error envelope; the trace goes to the log.
    logger.exception("unhandled error in the API", exc_info=error)
    return error_response(500, "internal_error", "internal error")


def _tenant() -> str:
    return app.context["tenant_id"]


def _monitor(monitor_id: str) -> MonitorModel:
    return find_monitor(_tenant(), monitor_id)


def _check_semantics(
    chain_ids: list[int] | None, webhook_url: str | None, condition: str | None, confirmations: int | None
) -> None:
    chains = known_chains()
    unknown = [chain_id for chain_id in chain_ids or [] if chains and chain_id not in chains]
    if unknown:
        raise ApiError(
            422, "unknown_chain", f"chain ids not served here: {unknown}", [{"known": sorted(chains)}]
        )
    if webhook_url is not None:
        try:
            validate_webhook_url(webhook_url, settings().allow_private_webhooks)
        except WebhookUrlRefused as refused:
            raise ApiError(422, "invalid_webhook_url", str(refused)) from None
    if condition is not None:
        try:
            cached_condition(condition)  # compiled once here, and cached for the answer's process
        except ConditionError as refused:
            raise ApiError(422, "invalid_condition", str(refused)) from None


def _confirmation_fields(confirmations: int | str | None) -> dict[str, Any]:
    """A number of blocks is stored as `confirmations`, a finality tag as `finality`; null clears both."""
    if isinstance(confirmations, str):
        return {"confirmations": None, "finality": confirmations}
    return {"confirmations": confirmations, "finality": None}


def _check_traces(chain_ids: list[int], kinds: list[str]) -> None:
    """A kind read from call traces, on a chain whose node serves none, would never match: refuse it."""
    wanted = sorted(TRACE_KINDS.intersection(kinds))
    if not wanted:
        return
    chains = known_chains()
    for chain_id in chain_ids:
        chain = chains.get(chain_id)
        traced = serves_traces(chain_id, chain.traces if chain else "auto")
        if traced is False:
            raise ApiError(
                422, "traces_unavailable", f"chain {chain_id} does not serve call traces, so it has no {wanted[0]} events"
            )
        if traced is None:
            raise ApiError(
                422,
                "traces_unknown",
                f"whether chain {chain_id} serves call traces is not known yet (ingest asks its node when it "
                f"starts): try again in a minute, or set the chain's traces in its configuration",
            )


def _labelled(items: list[str | LabelledAddress]) -> list[tuple[str, str | None]]:
    pairs: dict[str, str | None] = {}
    for item in items:
        if isinstance(item, LabelledAddress):
            pairs[item.address] = item.label
        else:
            pairs[item] = None
    return list(pairs.items())


def _check_address_limits(monitor: MonitorModel | None, adding: int, total_items: int) -> None:
    if total_items > MAX_ADDRESSES_PER_CALL:
        raise ApiError(413, "too_many_addresses", f"at most {MAX_ADDRESSES_PER_CALL} addresses a call")
    current = int(monitor.address_count or 0) if monitor else 0
    if current + adding > MAX_ADDRESSES_PER_MONITOR:
        raise ApiError(409, "address_limit", f"a monitor holds at most {MAX_ADDRESSES_PER_MONITOR} addresses")


def _filter_fields(filters: Filters, only_given: bool = False) -> dict[str, Any]:
    """The stored filter attributes; with only_given, just those the request named (PATCH merges)."""
    fields = {
        "kinds": list(dict.fromkeys(filters.kinds)),
        "contracts": sorted(set(filters.contracts)),
        "event_signatures": list(dict.fromkeys(filters.event_signatures)),
    }
    if only_given:
        return {name: value for name, value in fields.items() if name in filters.model_fields_set}
    return fields


@app.get("/v1/health", summary="Readiness", responses={200: {"description": "Ready"}})
def health() -> Health:
    return Health(status="ok")


@app.get("/v1/chains", summary="Chains served, with ingest and matcher progress", responses=responses(200, "Each chain"))
def list_chains() -> ChainList:
    items = []
    chains = known_chains()
    now = time.time()
    for chain_id, chain in sorted(chains.items()):
        head = load_checkpoint(chain_id).head
        processed = matcher_progress(chain_id)
        lag = None if head is None or processed is None else max(0, head - processed)
        node = load_node_heads(chain_id)
        status = "unknown" if node is None else ("stalled" if stalled(node, chain.poll_interval, now) else "live")
        items.append(
            ChainStatus(
                chain_id=chain_id, head=head, last_processed=processed, lag_blocks=lag,
                traces=serves_traces(chain_id, chain.traces), safe=node.safe if node else None,
                finalized=node.finalized if node else None, status=status,
                head_moved_at=int(node.head_moved_at) if node else None,
            )
        )  # fmt: skip
    return ChainList(items=items)


@app.post(
    "/v1/monitors",
    status_code=201,
    summary="Create a monitor",
    responses=responses(201, "The monitor, with its secret (shown only here and on rotation)"),
)
def create_monitor(
    body: MonitorCreate,
    idempotency_key: Annotated[
        str,  # not `| None`: a header is a string when sent; absent, it is None (the default)
        Header(
            alias="Idempotency-Key",
            description=(
                "Makes a retried create safe: the same key with the same body within 24 h creates one"
                " monitor and answers the first answer again; with another body it answers 409"
            ),
            json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH},
        ),
    ] = None,
) -> MonitorWithSecret:
    if idempotency_key is None:
        return monitor_with_secret(*_create_monitor(body))
    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        # Checked here rather than by the schema: a malformed header is a 400, not an invalid field.
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters")

    def create_and_keep_sealed() -> dict[str, Any]:
        # The saved answer holds the secret sealed, as the monitor does: the clear one is never stored.
        monitor, _ = _create_monitor(body)
        return {**monitor_out(monitor).model_dump(mode="json"), "sealed_secret": monitor.sealed_secret}

    try:
        answer = run_once(
            "create_monitor",
            _tenant(),
            idempotency_key,
            app.current_event.json_body,  # the body as sent, parsed: equal JSON is the same request
            create_and_keep_sealed,
            app.lambda_context,
        )
    except IdempotencyConflict as conflict:
        raise ApiError(409, "idempotency_conflict", str(conflict)) from None
    except IdempotencyInProgress as busy:
        raise ApiError(409, "idempotency_in_progress", str(busy)) from None
    sealed = answer.pop("sealed_secret")
    return MonitorWithSecret(**answer, secret=configured_secret_box().open(sealed, answer["id"]))


def _create_monitor(body: MonitorCreate) -> tuple[MonitorModel, str]:
    _check_semantics(body.chain_ids, body.webhook_url, body.condition, body.confirmations)
    _check_traces(body.chain_ids, body.filters.kinds)
    given = body.filters.addresses
    addresses = None if given is None else _labelled(given)  # None: every party
    _check_address_limits(None, len(addresses or ()), len(given or ()))
    if store.count_monitors(_tenant()) >= settings().max_monitors_per_tenant:
        raise ApiError(
            409, "monitor_limit", f"a tenant holds at most {settings().max_monitors_per_tenant} monitors"
        )
    return store.create_monitor(
        _tenant(),
        {
            "name": body.name,
            "chain_ids": sorted(set(body.chain_ids)),
            "webhook_url": body.webhook_url,
            "condition": body.condition,
            **_confirmation_fields(body.confirmations),
            "active": body.active,
            **_filter_fields(body.filters),
        },
        configured_secret_box(),
        addresses,
    )


@app.get("/v1/monitors", summary="List monitors", responses=responses(200, "A page of monitors"))
def list_monitors(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> MonitorPage:
    items, next_cursor = store.list_monitors(_tenant(), limit, cursor)
    return MonitorPage(items=[monitor_out(item) for item in items], next_cursor=next_cursor)


@app.get("/v1/monitors/<monitor_id>", summary="Get a monitor", responses=responses(200, "The monitor"))
def get_monitor(monitor_id: str) -> MonitorDetail:
    monitor = _monitor(monitor_id)
    return monitor_detail(monitor, sequence_marks(monitor.monitor_id, _confirmations_by_chain(monitor)))


def _confirmations_by_chain(monitor: MonitorModel) -> dict[int, int | str]:
    """The monitor's confirmations on each of its chains: its finality tag or number, or the chain's default."""
    chains = known_chains()
    return {
        int(chain_id): monitor.finality or (
            int(monitor.confirmations) if monitor.confirmations is not None
            else chains[chain_id].confirmations if chain_id in chains else DEFAULT_CONFIRMATIONS.get(chain_id, 0)
        )
        for chain_id in (int(value) for value in monitor.chain_ids)
    }  # fmt: skip


@app.patch("/v1/monitors/<monitor_id>", summary="Change a monitor", responses=responses(200, "The monitor"))
def patch_monitor(monitor_id: str, body: MonitorPatch) -> MonitorOut:
    monitor = _monitor(monitor_id)
    given = body.model_fields_set
    _check_semantics(
        None,
        body.webhook_url if "webhook_url" in given else None,
        body.condition if "condition" in given else None,
        body.confirmations if "confirmations" in given else None,
    )
    if body.filters is not None and "kinds" in body.filters.model_fields_set:
        _check_traces([int(chain_id) for chain_id in monitor.chain_ids], body.filters.kinds)
    changes: dict[str, Any] = {}
    for name in ("name", "webhook_url", "active"):
        value = getattr(body, name)
        if name in given and value is not None:
            changes[name] = value
    if "condition" in given:
        changes["condition"] = body.condition
    if "confirmations" in given:
        changes.update(_confirmation_fields(body.confirmations))
    if body.filters is not None:
        # A partial filters object changes only the filters it names, like a JSON merge patch.
        changes.update(_filter_fields(body.filters, only_given=True))
    new_endpoint = changes.get("webhook_url") not in (None, monitor.webhook_url)
    if body.filters is not None and "addresses" in body.filters.model_fields_set:
        # The addresses and the rest of the PATCH take effect together, as one change.
        monitor = _replace_addresses(monitor, body.filters.addresses, changes)
    else:
        monitor = store.update_monitor(monitor, changes)
    if new_endpoint:
        from blockhook.wiring import delivery_service  # the queue, only when there may be waiting deliveries

        delivery_service().endpoint_changed(monitor)
    return monitor_out(monitor)


def _replace_addresses(
    monitor: MonitorModel, addresses: list[str | LabelledAddress] | None, settings: dict[str, Any]
) -> MonitorModel:
    """filters.addresses given to PATCH: a list makes the monitor watch exactly it, null every party."""
    if addresses is None:
        return _change_addresses(monitor, [], [], replace=True, scope=store.SCOPE_ALL, settings=settings)[2]
    wanted = _labelled(addresses)
    _check_address_limits(None, len(wanted), len(addresses))
    return _change_addresses(monitor, wanted, [], replace=True, scope=store.SCOPE_LIST, settings=settings)[2]


def _change_addresses(
    monitor: MonitorModel, add: list[tuple[str, str | None]], remove: list[str], **options: Any
) -> tuple[int, int, MonitorModel]:
    try:
        return store.change_addresses(monitor, add, remove, **options)
    except store.WatchesEveryParty as refused:
        raise ApiError(409, "watches_every_party", str(refused)) from None
    except store.AddressChangeBusy as busy:
        raise ApiError(409, "address_change_in_progress", str(busy)) from None


@app.delete(
    "/v1/monitors/<monitor_id>",
    status_code=204,
    summary="Delete a monitor",
    responses=responses(204, "Deleted"),
)
def delete_monitor(monitor_id: str):
    store.delete_monitor(_monitor(monitor_id))
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.post(
    "/v1/monitors/<monitor_id>/addresses",
    summary="Add or remove watched addresses",
    responses=responses(200, "How many were added and removed"),
)
def change_addresses(monitor_id: str, body: AddressChange) -> AddressChangeResult:
    monitor = _monitor(monitor_id)
    adding = _labelled(body.add)
    _check_address_limits(monitor, len(adding), len(body.add) + len(body.remove))
    # One change: the adds and removes take effect together.
    added, removed, monitor = _change_addresses(monitor, adding, sorted(set(body.remove)))
    return AddressChangeResult(added=added, removed=removed, address_count=int(monitor.address_count or 0))


@app.get(
    "/v1/monitors/<monitor_id>/addresses",
    summary="List watched addresses",
    responses=responses(200, "A page of watched addresses"),
)
def list_addresses(
    monitor_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> AddressPage:
    items, next_cursor = store.list_addresses(_monitor(monitor_id), limit, cursor)
    return AddressPage(
        items=[{"address": item.address, "label": item.label} for item in items], next_cursor=next_cursor
    )


MAX_BACKFILL_BLOCKS = 100_000


@app.post(
    "/v1/monitors/<monitor_id>/backfill",
    status_code=202,
    summary="Send this monitor the matches of past blocks",
    responses=responses(202, "The backfill job, queued"),
)
def backfill(monitor_id: str, body: BackfillRequest) -> BackfillOut:
    monitor = _monitor(monitor_id)
    chain_id = _past_range(monitor, body.chain_id, body.from_block, body.to_block, "a backfill")
    try:
        job = start_backfill(monitor, chain_id, body.from_block, body.to_block)
    except BackfillConflict as conflict:
        raise ApiError(409, "backfill_running", str(conflict)) from None
    return backfill_out(job)


def _past_range(monitor: MonitorModel, chain_id: int | None, from_block: int, to_block: int, what: str) -> int:
    """The chain of a range of past blocks to read again for the monitor (backfill, reconcile), once
    the range is one it may read: bounded, ingested, covered by the monitor's confirmations."""
    chain_ids = [int(chain_id) for chain_id in monitor.chain_ids]
    chain_id = chain_id if chain_id is not None else (chain_ids[0] if len(chain_ids) == 1 else None)
    if chain_id is None:
        raise ApiError(422, "chain_required", "the monitor watches several chains: name one in chain_id")
    if chain_id not in chain_ids:
        raise ApiError(422, "unknown_chain", f"the monitor does not watch chain {chain_id}")
    if to_block < from_block:
        raise ApiError(422, "invalid_range", "to_block is before from_block")
    if to_block - from_block + 1 > MAX_BACKFILL_BLOCKS:
        raise ApiError(422, "range_too_large", f"at most {MAX_BACKFILL_BLOCKS} blocks {what}")
    checkpoint = load_checkpoint(chain_id)
    _check_backfill_reach(monitor, checkpoint, to_block)
    last = checkpoint.number
    if last is None or to_block > last:
        # Later blocks are matched live; these calls cover what already went by.
        raise ApiError(422, "beyond_head", f"to_block {to_block} is past the last block ingested ({last})")
    return chain_id


@app.post(
    "/v1/monitors/<monitor_id>/reconcile",
    status_code=202,
    summary="Compare this monitor's deliveries of past blocks with the chain (and heal them)",
    responses=responses(202, "The reconcile job, queued: GET it for what it finds"),
)
def start_reconcile_job(monitor_id: str, body: ReconcileRequest) -> ReconcileOut:
    monitor = _monitor(monitor_id)
    chain_id = _past_range(monitor, body.chain_id, body.from_block, body.to_block, "a reconcile")
    try:
        job = start_reconcile(monitor, chain_id, body.from_block, body.to_block, body.heal)
    except ReconcileConflict as conflict:
        raise ApiError(409, "reconcile_running", str(conflict)) from None
    return reconcile_out(job)


@app.get(
    "/v1/monitors/<monitor_id>/reconcile",
    summary="The monitor's latest reconcile: its progress and the event ids it found",
    responses=responses(200, "The latest reconcile job"),
)
def get_reconcile_job(monitor_id: str) -> ReconcileOut:
    monitor = _monitor(monitor_id)
    if monitor.reconcile is None:
        raise ApiError(404, "not_found", "this monitor has no reconcile: POST one first")
    return reconcile_out(monitor.reconcile)


def _check_backfill_reach(monitor: MonitorModel, checkpoint: Checkpoint, to_block: int) -> None:
    """Refuse a backfill past the blocks the monitor's confirmations already cover."""
    chain_id, head = checkpoint.chain_id, checkpoint.head
    confirmations: int | str
    if monitor.finality:
        confirmations = monitor.finality
    elif monitor.confirmations is not None:
        confirmations = int(monitor.confirmations)
    else:
        chain = known_chains().get(chain_id)
        confirmations = chain.confirmations if chain is not None else DEFAULT_CONFIRMATIONS.get(chain_id, 0)
    node = load_node_heads(chain_id) if isinstance(confirmations, str) else None
    reach = backfill_reach(checkpoint, confirmations, node)
    if reach is None:
        what = f"{confirmations} block" if isinstance(confirmations, str) else "head"
        raise ApiError(
            409, "head_unknown", f"the {what} of chain {chain_id} is not known yet: retry once ingest has seen it"
        )
    if to_block > reach:
        covered = (
            f"the node's {confirmations} block" if isinstance(confirmations, str)
            else f"the last that the monitor's {confirmations} confirmations cover at head {head}"
        )  # fmt: skip
        raise ApiError(
            422,
            "unconfirmed_blocks",
            f"to_block {to_block} is above block {reach}, {covered}: later blocks could still be replaced by a reorg",
            [{"last_block": reach, "head": head, "confirmations": confirmations}],
        )


@app.get(
    "/v1/openapi.json", summary="This API's OpenAPI document", responses=responses(200, "OpenAPI 3 document")
)
def openapi_document() -> dict[str, Any]:
    return openapi_dict()


def openapi_json() -> str:
    return json.dumps(openapi_dict())


def openapi_dict() -> dict[str, Any]:
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


from blockhook.api.delivery_routes import router as delivery_router  # noqa: E402 - the router's routes join `app`

app.include_router(delivery_router)
