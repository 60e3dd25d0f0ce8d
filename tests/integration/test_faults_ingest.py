"""Ingest killed between producing a batch and checkpointing it: blocks may repeat, never vanish, and
the matcher run over everything the topic then holds records each delivery once.

The kill is real: a child process builds the ingest as blockhook.wiring does (settings from the
environment, the same Anvil, Tansu and moto server as this session) and SIGKILLs itself inside the
checkpoint write that follows a broker-acknowledged batch. A second, unharmed run then carries on
from the checkpoint it left.

(The matcher re-run on the same records is covered by test_matching_service.py's
test_repeated_messages_record_nothing_new_and_resend_only_unattempted and
test_chunked_block_gives_one_delivery_per_chunk_and_repeats_nothing, and by test_matcher_handler.py's
test_real_matcher_retry_of_reported_records_delivers_each_block_once.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from kafka import TopicPartition
from test_matcher_handler import matcher_handler  # noqa: F401 - a fixture, the handler as deployed
from test_matching_service import drain
from test_matching_service import service as match_service  # noqa: F401 - a fixture, MatchService as wired

from blockhook.local.kafka_poller import msk_event
from blockhook.local.servers import REPO_ROOT
from blockhook.store.chain_state import load_checkpoint
from blockhook.store.deliveries import list_deliveries
from blockhook.streaming.codec import BlockMessage, decode
from blockhook.streaming.producer import ensure_topic
from tests.support.builders import create_monitor, new_address
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.kafka import topic_records

pytestmark = pytest.mark.integration

# Run ingest as the ingest function builds it; with KILL_AT = n, die inside the n-th checkpoint write.
# ChainIngest.poll calls save_checkpoint only after publish() had the broker acknowledge the batch.
INGEST_SCRIPT = """
import json, os, signal, sys

from blockhook.ingest import service

kill_at = int(sys.argv[1])
real_save = service.save_checkpoint
writes = 0


def save_or_die(previous, blocks, head):
    global writes
    writes += 1
    if writes == kill_at:
        print(json.dumps({"killed_before_checkpoint": [number for number, _ in blocks]}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(previous, blocks, head)


service.save_checkpoint = save_or_die

from blockhook.wiring import chain_ingests

for ingest in chain_ingests():
    result = ingest.poll()
    print(json.dumps({"blocks": result.blocks, "error": result.error}), flush=True)
"""


def run_ingest(script, env: dict[str, str], kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), str(kill_at)], env=env, capture_output=True, text=True, timeout=120
    )


def test_ingest_killed_between_produce_and_checkpoint_repeats_blocks_but_loses_none_and_records_each_delivery_once(
    anvil_rpc, kafka_bootstrap, moto_endpoint, tenant_id, chain_id, queue_url, tmp_path,
    matcher_handler, match_service,  # noqa: F811 - fixtures of the neighbouring test modules
):
    # A chain id of this test's own over the shared Anvil: its checkpoint and monitors are nobody else's.
    topic = "blocks-faults-" + uuid.uuid4().hex[:8]
    ensure_topic(kafka_bootstrap, topic, partitions=1)
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["native_transfer"], [(watched, None)])
    start = int(rpc(anvil_rpc, "eth_blockNumber", []), 16) + 1
    receipts = [send_tx(anvil_rpc, ANVIL_ACCOUNTS[8], watched, value=7_000 + n) for n in range(7)]
    head = int(receipts[-1]["blockNumber"], 16)
    transfer_blocks = {int(r["blockNumber"], 16): r["transactionHash"] for r in receipts}
    assert sorted(transfer_blocks) == list(range(start, head + 1))  # automine: one block each

    chains = {"chains": [{"chain_id": chain_id, "rpc_urls": [anvil_rpc], "confirmations": 0,
                          "start_block": start, "max_blocks_per_batch": 2}]}  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in ("BLOCKHOOK_RPC_URL", "BLOCKHOOK_CHAINS_FILE")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "layers/shared/python"), str(REPO_ROOT)]),
        BLOCKHOOK_CHAINS=json.dumps(chains),
        BLOCKHOOK_KAFKA_BOOTSTRAP=kafka_bootstrap,
        BLOCKHOOK_KAFKA_TOPIC=topic,
        AWS_ENDPOINT_URL=moto_endpoint,
    )
    script = tmp_path / "ingest_once.py"
    script.write_text(INGEST_SCRIPT)

    # The second batch (blocks start+2, start+3) is produced and acknowledged; its checkpoint never written.
    killed = run_ingest(script, env, kill_at=2)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    unsaved = json.loads(killed.stdout.splitlines()[-1])["killed_before_checkpoint"]
    assert unsaved == [start + 2, start + 3]
    assert load_checkpoint(chain_id).number == start + 1
    produced = [decode(record.value).header.number for record in topic_records(kafka_bootstrap, topic)]
    assert produced == [start, start + 1, start + 2, start + 3]  # in Kafka, though not checkpointed

    rerun = run_ingest(script, env, kill_at=0)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert json.loads(rerun.stdout.splitlines()[-1]) == {"blocks": head - (start + 1), "error": None}
    assert load_checkpoint(chain_id).number == head

    records = topic_records(kafka_bootstrap, topic)
    messages = [decode(record.value) for record in records]
    assert all(isinstance(message, BlockMessage) for message in messages)
    numbers = [message.header.number for message in messages]
    assert set(numbers) == set(range(start, head + 1)), f"blocks missing from the topic: {numbers}"
    assert Counter(numbers) == Counter([*range(start, head + 1), *unsaved])  # only the unsaved batch twice
    assert numbers == [start, start + 1, *unsaved, *range(start + 2, head + 1)]

    # The matcher function over everything the topic holds, repeats included, in one MSK batch.
    answer = matcher_handler.process_batch(msk_event({TopicPartition(topic, 0): records}, kafka_bootstrap), match_service)
    assert answer["batchItemFailures"] == []
    items, _ = list_deliveries(monitor.monitor_id, None, 100, None)
    payloads = [json.loads(item.payload) for item in items]
    assert sorted(p["block"]["number"] for p in payloads) == sorted(transfer_blocks)  # one per block
    events = [event for p in payloads for event in p["events"]]
    assert len({event["id"] for event in events}) == len(events) == len(transfer_blocks)
    assert {event["block_number"]: event["tx_hash"] for event in events} == transfer_blocks
    # A repeat of a delivery that was never attempted is queued again (its message may have been
    # lost); every queued id is a recorded one, and every recorded one was queued.
    assert set(drain(queue_url)) == {item.delivery_id for item in items}
