"""What the route modules share: the documented error answers and the tenant-scoped monitor look-up."""

from __future__ import annotations

from typing import Any

from blockhook.api.errors import ApiError
from blockhook.store import monitors as monitor_store
from blockhook.store.models import MonitorModel

ERRORS: dict[int, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    for status, description in [
        (400, "Malformed request"),
        (401, "Missing or unknown API key"),
        (404, "No such resource for this tenant"),
        (
            409,
            "A limit of the tenant or monitor is reached, or the request conflicts with an earlier one or"
            " with the monitor's or chain's current state",
        ),
        (413, "Request too large"),
        (422, "Invalid field"),
        (429, "Too many requests for this API key"),
        (503, "A storage or key service is busy or unreachable; retry (a create with the same Idempotency-Key)"),
    ]
}


def responses(status: int, description: str) -> dict[int, dict[str, Any]]:
    # With `responses` given, powertools documents the success answer only if it is listed too.
    return {status: {"description": description}, **ERRORS}


def find_monitor(tenant_id: str, monitor_id: str) -> MonitorModel:
    """The tenant's monitor; another tenant's answers 404 exactly like a missing one."""
    # An id we never issue cannot exist, and an oversized one would be refused by DynamoDB as a key.
    if not monitor_store.is_monitor_id(monitor_id):
        raise ApiError(404, "not_found", "no such monitor")
    try:
        return monitor_store.get_monitor(tenant_id, monitor_id)
    except monitor_store.MonitorNotFound:
        raise ApiError(404, "not_found", f"no monitor {monitor_id}") from None
