"""Job routes of the REST API: a backfill of past blocks for one monitor, and a reconcile of its
deliveries with the chain. Which ranges they may read is decided in api/monitor_service.py."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from blockhook.api import monitor_service as service
from blockhook.api.common import find_monitor, responses
from blockhook.api.errors import ApiError
from blockhook.api.models import BackfillOut, BackfillRequest, ReconcileOut, ReconcileRequest
from blockhook.api.presenters import backfill_out, reconcile_out
from blockhook.api.resolver import tenant
from blockhook.store.backfills import start_backfill
from blockhook.store.reconciles import start_reconcile

router = Router()


@router.post(
    "/v1/monitors/<monitor_id>/backfill",
    status_code=202,
    summary="Send this monitor the matches of past blocks",
    responses=responses(202, "The backfill job, queued"),
)
def backfill(monitor_id: str, body: BackfillRequest) -> BackfillOut:
    monitor = find_monitor(tenant(), monitor_id)
    chain_id = service.past_range(monitor, body.chain_id, body.from_block, body.to_block, "a backfill")
    return backfill_out(start_backfill(monitor, chain_id, body.from_block, body.to_block))


@router.post(
    "/v1/monitors/<monitor_id>/reconcile",
    status_code=202,
    summary="Compare this monitor's deliveries of past blocks with the chain (and heal them)",
    responses=responses(202, "The reconcile job, queued: GET it for what it finds"),
)
def start_reconcile_job(monitor_id: str, body: ReconcileRequest) -> ReconcileOut:
    monitor = find_monitor(tenant(), monitor_id)
    chain_id = service.past_range(monitor, body.chain_id, body.from_block, body.to_block, "a reconcile")
    return reconcile_out(start_reconcile(monitor, chain_id, body.from_block, body.to_block, body.heal))


@router.get(
    "/v1/monitors/<monitor_id>/reconcile",
    summary="The monitor's latest reconcile: its progress and the event ids it found",
    responses=responses(200, "The latest reconcile job"),
)
def get_reconcile_job(monitor_id: str) -> ReconcileOut:
    monitor = find_monitor(tenant(), monitor_id)
    if monitor.reconcile is None:
        raise ApiError(404, "not_found", "this monitor has no reconcile: POST one first")
    return reconcile_out(monitor.reconcile)
