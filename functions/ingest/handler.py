"""Ingest function: on each schedule tick, keep publishing new blocks until shortly
before the invocation's time runs out, so a once-a-minute schedule gives block-time latency.

Metrics (powertools, namespace POWERTOOLS_METRICS_NAMESPACE): IngestLagBlocks per chain (ChainId
dimension), the head the node last reported minus the checkpoint, after the run, and
ChainHeadAgeSeconds, how long that head has not moved; a chain whose node did not answer gets no
value, which their alarms treat as breaching. IngestBlocks and IngestErrors per run.

Logs: each block published (and each revert) is logged once acknowledged, under the block's correlation
id `<chain_id>:<hash>`, which the matcher and the deliveries of that block log under too.
"""

import time

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from blockhook.config import settings
from blockhook.ingest.service import PollResult, run_ingest, settle_heap
from blockhook.store.chain_state import load_checkpoint
from blockhook.store.leases import ChainLeases
from blockhook.wiring import backfill_runner, chain_ingests

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"blockhook"})
metrics = Metrics()
# X-Ray (in Lambda with active tracing): the node's JSON-RPC calls and the checkpoint writes.
tracer = Tracer(patch_modules=("boto3", "botocore", "requests"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event, context):
    margin_ms = settings().ingest_stop_margin_seconds * 1000
    ingests, backfills = chain_ingests(), backfill_runner()
    settle_heap()  # once wired: what lives from run to run leaves the collections
    results = run_ingest(
        ingests,
        should_stop=lambda: context.get_remaining_time_in_millis() < margin_ms,
        backfills=backfills,
        # One invocation per chain at a time, each chain's lease held until this invocation's deadline.
        leases=ChainLeases(context.aws_request_id, time.time() + context.get_remaining_time_in_millis() / 1000),
    )
    blocks = sum(result.blocks for result in results)
    errors = [result.error for result in results if result.error]
    logger.info("ingest run", extra={"blocks": blocks, "polls": len(results), "errors": errors[:5]})
    metrics.add_metric(name="IngestBlocks", unit=MetricUnit.Count, value=blocks)
    metrics.add_metric(name="IngestErrors", unit=MetricUnit.Count, value=len(errors))
    _publish_lag(results)
    return {"blocks": blocks, "reverts": sum(result.reverts for result in results), "errors": len(errors)}


def _publish_lag(results: list[PollResult]) -> None:
    heads: dict[int, int] = {}
    ages: dict[int, float] = {}
    for result in results:  # in poll order: the last head a chain's node reported wins
        if result.head is not None:
            heads[result.chain_id] = result.head
        if result.head_age is not None:
            ages[result.chain_id] = result.head_age
    for chain_id, age in ages.items():  # a node that did not answer gets no value: its alarm breaches
        with single_metric(name="ChainHeadAgeSeconds", unit=MetricUnit.Seconds, value=round(age)) as metric:
            metric.add_dimension(name="ChainId", value=str(chain_id))
    for chain_id, head in heads.items():
        try:
            checkpoint = load_checkpoint(chain_id).number
        except Exception:  # a metric must never fail the run: the missing value alarms anyway
            logger.exception("cannot read the checkpoint for the lag metric", extra={"chain_id": chain_id})
            continue
        lag = head - checkpoint if checkpoint is not None else 0
        with single_metric(name="IngestLagBlocks", unit=MetricUnit.Count, value=max(lag, 0)) as metric:
            metric.add_dimension(name="ChainId", value=str(chain_id))
