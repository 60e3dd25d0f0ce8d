"""Test topics and chain ingests: a fresh one-partition topic, an ingest of the local Anvil's chain
starting just above its head, and reading a topic back (every record of its one partition)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition


def topic_records(bootstrap: str, topic: str) -> list:
    """Every record (kafka-python ConsumerRecords) of partition 0 of `topic`, in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    end = consumer.end_offsets([partition])[partition]
    records = []
    while consumer.position(partition) < end:
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
    consumer.close()
    return records


def new_topic(bootstrap: str, prefix: str = "blocks-") -> str:
    """A new topic of one partition."""
    from blockhook.streaming.producer import ensure_topic

    name = prefix + uuid.uuid4().hex[:8]
    ensure_topic(bootstrap, name, partitions=1)
    return name


@contextlib.contextmanager
def fresh_chain_ingest(rpc_url: str, bootstrap: str, topic: str, chain_id: int, batch: int) -> Iterator:
    """A ChainIngest of the node's chain into `topic`, its checkpoint forgotten, starting just above
    the node's head (chain state is shared by the test session)."""
    from blockhook.chain.reader import RpcChainReader
    from blockhook.chain.registry import ChainConfig
    from blockhook.chain.rpc import JsonRpcClient
    from blockhook.ingest.service import ChainIngest
    from blockhook.store.models import ChainStateModel
    from blockhook.streaming.producer import BlockProducer
    from tests.support.contracts import rpc

    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{chain_id}").delete()
    head = int(rpc(rpc_url, "eth_blockNumber", []), 16)
    config = ChainConfig(chain_id=chain_id, rpc_urls=[rpc_url], start_block=head + 1, max_blocks_per_batch=batch)
    producer = BlockProducer(bootstrap, topic)
    try:
        yield ChainIngest(config, RpcChainReader(JsonRpcClient([rpc_url])), producer)
    finally:
        producer.close()
