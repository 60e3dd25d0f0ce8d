"""A reconcile's blocks in ingest, against a real Anvil, a real Tansu broker and a moto server: read
from the node again and published with the job as their target, each only once the live blocks
that settle its matches are on the topic before it."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from blockhook.chain.reader import RpcChainReader
from blockhook.chain.registry import ChainConfig
from blockhook.chain.rpc import JsonRpcClient
from blockhook.ingest.backfill import BackfillRunner
from blockhook.ingest.service import ChainIngest
from blockhook.store import monitors as monitor_store
from blockhook.store import reconciles
from blockhook.store.models import ChainStateModel
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import ReconcileTarget, decode
from blockhook.streaming.producer import BlockProducer, ensure_topic
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.kafka import topic_records

pytestmark = pytest.mark.integration

CHAIN_ID = 31337


@pytest.fixture
def topic(kafka_bootstrap) -> str:
    name = "blocks-reconcile-" + uuid.uuid4().hex[:8]
    ensure_topic(kafka_bootstrap, name, partitions=1)
    return name


@pytest.fixture
def ingest(anvil_rpc, kafka_bootstrap, moto_endpoint, topic):
    with contextlib.suppress(ChainStateModel.DoesNotExist):
        ChainStateModel.get(f"chain#{CHAIN_ID}").delete()
    head = int(rpc(anvil_rpc, "eth_blockNumber", []), 16)
    config = ChainConfig(chain_id=CHAIN_ID, rpc_urls=[anvil_rpc], start_block=head + 1, max_blocks_per_batch=10)
    producer = BlockProducer(kafka_bootstrap, topic)
    yield ChainIngest(config, RpcChainReader(JsonRpcClient([anvil_rpc])), producer)
    producer.close()


def test_a_reconcile_block_is_published_once_the_monitors_confirmations_stand_on_it_in_order(
    ingest, anvil_rpc, kafka_bootstrap, topic, tenant_id
):
    monitor, _ = monitor_store.create_monitor(
        tenant_id,
        {"name": "reconciled", "chain_ids": [CHAIN_ID], "webhook_url": "http://127.0.0.1:9/hook",
         "kinds": ["native_transfer"], "contracts": [], "event_signatures": [], "active": True, "confirmations": 3},
        configured_secret_box(),
        None,
    )  # fmt: skip
    receipt = send_tx(anvil_rpc, ANVIL_ACCOUNTS[3], ANVIL_ACCOUNTS[4], value=5)
    number = int(receipt["blockNumber"], 16)
    rpc(anvil_rpc, "anvil_mine", ["0x1"])
    ingest.poll()  # the checkpoint is one block past it: its matches still wait for two more
    job = reconciles.start_reconcile(
        monitor_store.get_monitor(tenant_id, monitor.monitor_id), CHAIN_ID, number, number, heal=False
    )
    runner = BackfillRunner([ingest])  # reconciles run in the backfill turn of each chain's thread

    assert runner.step(CHAIN_ID) == 0
    assert [decode(r.value).backfill for r in topic_records(kafka_bootstrap, topic)] == [None, None]
    assert monitor_store.get_monitor(tenant_id, monitor.monitor_id).reconcile.next_block == number

    rpc(anvil_rpc, "anvil_mine", ["0x2"])
    ingest.poll()
    assert runner.step(CHAIN_ID) == 1
    messages = [decode(r.value) for r in topic_records(kafka_bootstrap, topic)]
    assert [m.header.number for m in messages] == [number, number + 1, number + 2, number + 3, number]
    assert messages[-1].backfill == ReconcileTarget(monitor.monitor_id, job.job_id)
    assert messages[-1].header.hash == receipt["blockHash"]
    assert [e["value"] for e in messages[-1].events if e["kind"] == "native_transfer"] == ["5"]

    stored = monitor_store.get_monitor(tenant_id, monitor.monitor_id).reconcile
    assert (stored.next_block, stored.status) == (number + 1, "queued")  # "done" is the matcher's to say
    assert (tenant_id, monitor.monitor_id) not in reconciles.active_reconciles()  # all published
    assert runner.step(CHAIN_ID) == 0
