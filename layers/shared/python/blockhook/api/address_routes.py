"""Address routes of the REST API: add and remove a monitor's watched addresses, and page through them."""

from __future__ import annotations

import re
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from blockhook.api import monitor_service as service
from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError
from blockhook.api.models import AddressChange, AddressChangeResult, AddressPage
from blockhook.api.resolver import tenant
from blockhook.store import monitors as store

router = Router()

_PREFIX = re.compile(r"0x[0-9a-fA-F]{0,40}")


@router.post(
    "/v1/monitors/<monitor_id>/addresses",
    summary="Add or remove watched addresses",
    responses=responses(200, "How many were added and removed"),
)
def change_addresses(monitor_id: str, body: AddressChange) -> AddressChangeResult:
    added, removed, monitor = service.change_addresses(find_monitor(tenant(), monitor_id), body.add, body.remove)
    return AddressChangeResult(added=added, removed=removed, address_count=int(monitor.address_count or 0))


@router.get(
    "/v1/monitors/<monitor_id>/addresses",
    summary="List watched addresses",
    responses=responses(200, "A page of watched addresses"),
)
def list_addresses(
    monitor_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    prefix: Annotated[
        str | None,
        Query(description='Only the addresses starting with this: "0x" and up to 40 hex digits, any case'),
    ] = None,
) -> AddressPage:
    if prefix is not None and not _PREFIX.fullmatch(prefix):
        raise ApiError(400, "invalid_prefix", 'prefix is "0x" followed by 0 to 40 hex digits, e.g. 0xab')
    monitor = find_monitor(tenant(), monitor_id)
    items, next_cursor = store.list_addresses(monitor, limit, cursor, (prefix or "").lower())
    return AddressPage(
        items=[{"address": item.address, "label": item.label} for item in items], next_cursor=next_cursor
    )
