"""Monitor routes of the REST API: create, list, read, change and delete. The rules they apply are
in api/monitor_service.py."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from blockhook.api import monitor_service as service
from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError
from blockhook.api.models import (
    MonitorCreate,
    MonitorDetail,
    MonitorOut,
    MonitorPage,
    MonitorPatch,
    MonitorWithSecret,
)
from blockhook.api.presenters import monitor_detail, monitor_out, monitor_with_secret, monitors_out
from blockhook.api.resolver import tenant
from blockhook.store import monitors as store
from blockhook.store.deliveries import sequence_marks
from blockhook.store.idempotency import MAX_KEY_LENGTH, run_once
from blockhook.store.secret_box import configured_secret_box

router = Router()


@router.post(
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
        return monitor_with_secret(*service.create_monitor(tenant(), body))
    if not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        # Checked here rather than by the schema: a malformed header is a 400, not an invalid field.
        raise ApiError(400, "invalid_idempotency_key", f"Idempotency-Key is 1 to {MAX_KEY_LENGTH} characters")

    def create_and_keep_sealed() -> dict[str, Any]:
        # The saved answer holds the secret sealed, as the monitor does: the clear one is never stored.
        monitor, _ = service.create_monitor(tenant(), body)
        return {**monitor_out(monitor, new=True).model_dump(mode="json"), "sealed_secret": monitor.sealed_secret}

    answer = run_once(
        "create_monitor",
        tenant(),
        idempotency_key,
        router.current_event.json_body,  # the body as sent, parsed: equal JSON is the same request
        create_and_keep_sealed,
        router.lambda_context,
    )
    sealed = answer.pop("sealed_secret")
    return MonitorWithSecret(**answer, secret=configured_secret_box().open(sealed, answer["id"]))


@router.get("/v1/monitors", summary="List monitors", responses=responses(200, "A page of monitors"))
def list_monitors(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> MonitorPage:
    items, next_cursor = store.list_monitors(tenant(), limit, cursor)
    return MonitorPage(items=monitors_out(items), next_cursor=next_cursor)


@router.get("/v1/monitors/<monitor_id>", summary="Get a monitor", responses=responses(200, "The monitor"))
def get_monitor(monitor_id: str) -> MonitorDetail:
    monitor = find_monitor(tenant(), monitor_id)
    return monitor_detail(monitor, sequence_marks(monitor.monitor_id, service.confirmations_by_chain(monitor)))


@router.patch("/v1/monitors/<monitor_id>", summary="Change a monitor", responses=responses(200, "The monitor"))
def patch_monitor(monitor_id: str, body: MonitorPatch) -> MonitorOut:
    return monitor_out(service.patch_monitor(find_monitor(tenant(), monitor_id), body))


@router.delete(
    "/v1/monitors/<monitor_id>",
    status_code=204,
    summary="Delete a monitor",
    responses=responses(204, "Deleted"),
)
def delete_monitor(monitor_id: str):
    store.delete_monitor(find_monitor(tenant(), monitor_id))
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")
