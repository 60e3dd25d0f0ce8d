"""The REST API (CONTRACT section 2) as a powertools resolver: routes, auth, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query

from blockhook.api.auth import Unauthorized, resolve_tenant
from blockhook.api.errors import ApiError, error_response, validation_details
from blockhook.api.models import (
    MAX_ADDRESSES_PER_CALL,
    MAX_ADDRESSES_PER_MONITOR,
    AddressChange,
    AddressChangeResult,
    AddressPage,
    ErrorEnvelope,
    Filters,
    Health,
    LabelledAddress,
    MonitorCreate,
    MonitorOut,
    MonitorPage,
    MonitorPatch,
)
from blockhook.chain.registry import ChainConfig, load_chains
from blockhook.config import settings
from blockhook.delivery.url_policy import WebhookUrlRefused, validate_webhook_url
from blockhook.store import monitors as store
from blockhook.store.models import MonitorModel
from blockhook.store.paging import InvalidCursor

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_048_576
PUBLIC_PATHS = frozenset({"/v1/health"})
ERRORS: dict[int, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}}
    for status, description in [
        (400, "Malformed request"),
        (401, "Missing or unknown API key"),
        (404, "No such resource for this tenant"),
        (413, "Request too large"),
        (422, "Invalid field"),
    ]
}

app = APIGatewayRestResolver(enable_validation=True)


@lru_cache(maxsize=1)
def known_chains() -> dict[int, ChainConfig]:
    return {chain.chain_id: chain for chain in load_chains(chain_id_of=_no_rpc)}


def _no_rpc(url: str) -> int:
    # The API never calls a node; its environment lists the chains with their ids.
    raise ApiError(500, "configuration", "BLOCKHOOK_CHAINS must list chain ids for the API")


def _authenticate(app: APIGatewayRestResolver, next_middleware: Callable[..., Response]) -> Response:
    event = app.current_event
    body = event.body or ""
    if len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES:
        return error_response(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    if event.path not in PUBLIC_PATHS:
        try:
            tenant = resolve_tenant(
                settings().auth_mode, event.headers or {}, event.raw_event.get("requestContext") or {}, settings().api_keys
            )
        except Unauthorized as refused:
            return error_response(401, "unauthorized", str(refused))
        app.append_context(tenant_id=tenant)
    return next_middleware(app)


app.use(middlewares=[_authenticate])


@app.exception_handler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details)


@app.exception_handler(RequestValidationError)
def _validation_error(error: RequestValidationError) -> Response:
    errors = error.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    return error_response(422, "validation_failed", "request does not validate", validation_details(errors))


@app.exception_handler(InvalidCursor)
def _invalid_cursor(error: InvalidCursor) -> Response:
    return error_response(400, "invalid_cursor", str(error))


@app.not_found
def _not_found(_: Exception) -> Response:
    return error_response(404, "not_found", "no such route")


def _tenant() -> str:
    return app.context["tenant_id"]


def _monitor(monitor_id: str) -> MonitorModel:
    try:
        return store.get_monitor(_tenant(), monitor_id)
    except store.MonitorNotFound:
        raise ApiError(404, "not_found", f"no monitor {monitor_id}") from None


def monitor_out(monitor: MonitorModel, with_secret: bool = False) -> dict[str, Any]:
    return MonitorOut(
        id=monitor.monitor_id,
        name=monitor.name,
        chain_ids=[int(chain_id) for chain_id in monitor.chain_ids],
        webhook_url=monitor.webhook_url,
        filters={
            "kinds": list(monitor.kinds),
            "contracts": list(monitor.contracts or []),
            "event_signatures": list(monitor.event_signatures or []),
        },
        address_count=int(monitor.address_count or 0),
        condition=monitor.condition,
        confirmations=None if monitor.confirmations is None else int(monitor.confirmations),
        active=bool(monitor.active),
        created_at=int(monitor.created_at),
        updated_at=int(monitor.updated_at),
        secret=monitor.secret if with_secret else None,
    ).model_dump(exclude_none=not with_secret)


def _check_semantics(chain_ids: list[int] | None, webhook_url: str | None, condition: str | None, confirmations: int | None) -> None:
    chains = known_chains()
    unknown = [chain_id for chain_id in chain_ids or [] if chains and chain_id not in chains]
    if unknown:
        raise ApiError(422, "unknown_chain", f"chain ids not served here: {unknown}", [{"known": sorted(chains)}])
    if webhook_url is not None:
        try:
            validate_webhook_url(webhook_url, settings().allow_private_webhooks)
        except WebhookUrlRefused as refused:
            raise ApiError(422, "invalid_webhook_url", str(refused)) from None
    if condition:
        raise ApiError(422, "unsupported", "conditions are not supported by this version yet")
    if confirmations:
        raise ApiError(422, "unsupported", "confirmations above 0 are not supported by this version yet")


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


def _filter_fields(filters: Filters) -> dict[str, Any]:
    return {
        "kinds": list(filters.kinds),
        "contracts": sorted(set(filters.contracts)),
        "event_signatures": list(filters.event_signatures),
    }


@app.get("/v1/health", summary="Readiness", responses={200: {"description": "Ready"}})
def health() -> Health:
    return Health(status="ok")


@app.post("/v1/monitors", status_code=201, summary="Create a monitor", responses=ERRORS)
def create_monitor(body: MonitorCreate) -> MonitorOut:
    _check_semantics(body.chain_ids, body.webhook_url, body.condition, body.confirmations)
    addresses = _labelled(body.filters.addresses)
    _check_address_limits(None, len(addresses), len(body.filters.addresses))
    if store.count_monitors(_tenant()) >= settings().max_monitors_per_tenant:
        raise ApiError(409, "monitor_limit", f"a tenant holds at most {settings().max_monitors_per_tenant} monitors")
    monitor = store.create_monitor(
        _tenant(),
        {
            "name": body.name,
            "chain_ids": sorted(set(body.chain_ids)),
            "webhook_url": body.webhook_url,
            "condition": body.condition,
            "confirmations": body.confirmations,
            "active": body.active,
            **_filter_fields(body.filters),
        },
    )
    if addresses:
        store.add_addresses(monitor, addresses)
        monitor = store.get_monitor(_tenant(), monitor.monitor_id)
    return monitor_out(monitor, with_secret=True)


@app.get("/v1/monitors", summary="List monitors", responses=ERRORS)
def list_monitors(
    limit: Annotated[int, Query(ge=1, le=100)] = 50, cursor: Annotated[str | None, Query(max_length=2048)] = None
) -> MonitorPage:
    items, next_cursor = store.list_monitors(_tenant(), limit, cursor)
    return MonitorPage(items=[monitor_out(item) for item in items], next_cursor=next_cursor)


@app.get("/v1/monitors/<monitor_id>", summary="Get a monitor", responses=ERRORS)
def get_monitor(monitor_id: str) -> MonitorOut:
    return monitor_out(_monitor(monitor_id))


@app.patch("/v1/monitors/<monitor_id>", summary="Change a monitor", responses=ERRORS)
def patch_monitor(monitor_id: str, body: MonitorPatch) -> MonitorOut:
    monitor = _monitor(monitor_id)
    given = body.model_fields_set
    _check_semantics(
        None,
        body.webhook_url if "webhook_url" in given else None,
        body.condition if "condition" in given else None,
        body.confirmations if "confirmations" in given else None,
    )
    changes: dict[str, Any] = {}
    for name in ("name", "webhook_url", "active"):
        value = getattr(body, name)
        if name in given and value is not None:
            changes[name] = value
    for name in ("condition", "confirmations"):
        if name in given:
            changes[name] = getattr(body, name)
    if body.filters is not None:
        changes.update(_filter_fields(body.filters))
        if "addresses" in body.filters.model_fields_set:
            _replace_addresses(monitor, _labelled(body.filters.addresses), len(body.filters.addresses))
            monitor = _monitor(monitor_id)
    return monitor_out(store.update_monitor(monitor, changes))


def _replace_addresses(monitor: MonitorModel, wanted: list[tuple[str, str | None]], total_items: int) -> None:
    _check_address_limits(None, len(wanted), total_items)
    current: set[str] = set()
    cursor = None
    while True:
        page, cursor = store.list_addresses(monitor.monitor_id, 1000, cursor)
        current.update(item.address for item in page)
        if not cursor:
            break
    stale = sorted(current - {address for address, _ in wanted})
    if stale:
        store.remove_addresses(monitor, stale)
    if wanted:
        store.add_addresses(monitor, wanted)


@app.delete("/v1/monitors/<monitor_id>", status_code=204, summary="Delete a monitor", responses=ERRORS)
def delete_monitor(monitor_id: str) -> Response:
    store.delete_monitor(_monitor(monitor_id))
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.post("/v1/monitors/<monitor_id>/addresses", summary="Add or remove watched addresses", responses=ERRORS)
def change_addresses(monitor_id: str, body: AddressChange) -> AddressChangeResult:
    monitor = _monitor(monitor_id)
    adding = _labelled(body.add)
    _check_address_limits(monitor, len(adding), len(body.add) + len(body.remove))
    removed = store.remove_addresses(monitor, sorted(set(body.remove))) if body.remove else 0
    added = store.add_addresses(monitor, adding) if adding else 0
    count = int(_monitor(monitor_id).address_count or 0)
    return AddressChangeResult(added=added, removed=removed, address_count=count)


@app.get("/v1/monitors/<monitor_id>/addresses", summary="List watched addresses", responses=ERRORS)
def list_addresses(
    monitor_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> AddressPage:
    _monitor(monitor_id)
    items, next_cursor = store.list_addresses(monitor_id, limit, cursor)
    return AddressPage(
        items=[{"address": item.address, "label": item.label} for item in items], next_cursor=next_cursor
    )


@app.get("/v1/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def openapi_document() -> Response:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json())


def openapi_json() -> str:
    schema = app.get_openapi_schema(title="blockhook", version="0.1.0", summary="Blockchain address and event monitor")
    document = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for name, definition in document["components"]["schemas"]["ErrorEnvelope"].pop("$defs", {}).items():
        document["components"]["schemas"].setdefault(name, definition)
    return json.dumps(document)
