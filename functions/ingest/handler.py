"""Ingest function: on each schedule tick, keep publishing new blocks until shortly
before the invocation's time runs out, so a once-a-minute schedule gives block-time latency."""

from aws_lambda_powertools import Logger

from blockhook.config import settings
from blockhook.ingest.service import run_ingest
from blockhook.wiring import backfill_runner, chain_ingests

logger = Logger()


@logger.inject_lambda_context
def handler(event, context):
    margin_ms = settings().ingest_stop_margin_seconds * 1000
    results = run_ingest(
        chain_ingests(),
        should_stop=lambda: context.get_remaining_time_in_millis() < margin_ms,
        backfills=backfill_runner().step,
    )
    blocks = sum(result.blocks for result in results)
    errors = [result.error for result in results if result.error]
    logger.info("ingest run", extra={"blocks": blocks, "polls": len(results), "errors": errors[:5]})
    return {"blocks": blocks, "reverts": sum(result.reverts for result in results), "errors": len(errors)}
