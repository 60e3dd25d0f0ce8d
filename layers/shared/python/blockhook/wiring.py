"""Build each service from the settings, once per process (a warm Lambda reuses them).

Each factory imports what it builds: every function imports this module, and each uses only some of
the factories, so the deliver function never loads Kafka or the matching code, nor the api Kafka
(bench/cold_start.py measures each function's cold start).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from blockhook.config import settings

if TYPE_CHECKING:
    from blockhook.delivery.service import DeliveryService
    from blockhook.ingest.backfill import BackfillRunner
    from blockhook.ingest.service import ChainIngest
    from blockhook.matching.service import MatchService


@lru_cache(maxsize=1)
def delivery_service() -> DeliveryService:
    from blockhook.delivery.queue import DeliveryQueue
    from blockhook.delivery.retry import parse_schedule
    from blockhook.delivery.service import DeliveryService
    from blockhook.store.secret_box import configured_secret_box

    config = settings()
    return DeliveryService(
        DeliveryQueue(config.delivery_queue_url),
        parse_schedule(config.retry_schedule),
        allow_private_webhooks=config.allow_private_webhooks,
        box=configured_secret_box(),
    )


@lru_cache(maxsize=1)
def match_service() -> MatchService:
    from blockhook.chain.registry import DEFAULT_CONFIRMATIONS, load_chains
    from blockhook.matching.index import WatchIndex
    from blockhook.matching.service import MatchService

    # The index lives as long as the process: a warm matcher reloads only on change.
    configured = {chain.chain_id: chain.confirmations for chain in load_chains()}

    def default_confirmations(chain_id: int) -> int:
        return configured.get(chain_id, DEFAULT_CONFIRMATIONS.get(chain_id, 0))

    return MatchService(WatchIndex(), delivery_service(), default_confirmations)


@lru_cache(maxsize=1)
def chain_ingests() -> tuple[ChainIngest, ...]:
    from blockhook.chain.reader import RpcChainReader
    from blockhook.chain.registry import load_chains
    from blockhook.chain.rpc import JsonRpcClient
    from blockhook.ingest.service import ChainIngest
    from blockhook.store.blobs import configured_blobs
    from blockhook.streaming.producer import BlockProducer

    config = settings()
    blobs = configured_blobs()
    producer = BlockProducer(
        config.kafka_bootstrap,
        config.kafka_topic,
        auth=config.kafka_auth,
        # An event too large to cross inline: kept in S3, a stand-in crosses (streaming/codec.py).
        claims=lambda chain_id, data: blobs.put(f"events/{chain_id}", data),
    )
    return tuple(
        ChainIngest(chain, RpcChainReader(JsonRpcClient(chain.rpc_urls)), producer) for chain in load_chains()
    )


@lru_cache(maxsize=1)
def backfill_runner() -> BackfillRunner:
    from blockhook.ingest.backfill import BackfillRunner

    return BackfillRunner(chain_ingests())
