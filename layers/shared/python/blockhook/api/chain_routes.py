"""Health and chain routes of the REST API: readiness, and each chain's ingest and matcher progress."""

from __future__ import annotations

import time

from aws_lambda_powertools.event_handler.api_gateway import Router

from blockhook.api.common import responses
from blockhook.api.models import ChainList, ChainStatus, Health
from blockhook.api.monitor_service import known_chains
from blockhook.store.chain_state import load_checkpoint, load_node_heads, serves_traces, stalled
from blockhook.store.matches import matcher_progress

router = Router()


@router.get("/v1/health", summary="Readiness", responses={200: {"description": "Ready"}})
def health() -> Health:
    return Health(status="ok")


@router.get("/v1/chains", summary="Chains served, with ingest and matcher progress", responses=responses(200, "Each chain"))
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
