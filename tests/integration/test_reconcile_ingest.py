"""A reconcile's blocks in ingest, against a real Anvil, a real Tansu broker and a moto server: read
from the node again and published with the job as their target, each only once the live blocks
that settle its matches are on the topic before it."""

from __future__ import annotations

import pytest

from blockhook.ingest.backfill import BackfillRunner
from blockhook.store import monitors as monitor_store
from blockhook.store import reconciles
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import ReconcileTarget, decode
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.kafka import fresh_chain_ingest, new_topic, topic_records

pytestmark = pytest.mark.integration

CHAIN_ID = 31337


@pytest.fixture
def topic(kafka_bootstrap) -> str:
    return new_topic(kafka_bootstrap, "blocks-reconcile-")


@pytest.fixture
def ingest(anvil_rpc, kafka_bootstrap, moto_endpoint, topic):
    with fresh_chain_ingest(anvil_rpc, kafka_bootstrap, topic, CHAIN_ID, batch=10) as ingest:
        yield ingest


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
