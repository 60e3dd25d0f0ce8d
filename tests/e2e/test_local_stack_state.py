"""`make up` stopped and started again on its state directory keeps everything: monitors, their
addresses and secrets, deliveries, the ingest checkpoint, the chain and the topic. A node on another
chain than the checkpoint's starts that chain fresh; BLOCKHOOK_RESET=1 starts clean."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from blockhook.local import servers
from tests.support.contracts import ANVIL_ACCOUNTS, rpc, send_tx
from tests.support.local_stack import LocalStack, running_stack
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

SENDER = ANVIL_ACCOUNTS[5]


def watch(stack: LocalStack, url: str, address: str) -> dict:
    return stack.create_monitor(
        {"name": "kept", "chain_ids": [31337], "webhook_url": url,
         "filters": {"kinds": ["native_transfer"], "addresses": [address]}, "confirmations": 0}
    )  # fmt: skip


def block_hash(url: str, number: int) -> str:
    return rpc(url, "eth_getBlockByNumber", [hex(number), False])["hash"]


def topic_records(bootstrap: str) -> list[tuple[int, int, bytes]]:
    """Every record of the blocks topic, as (partition, offset, value)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition("blocks", p) for p in sorted(consumer.partitions_for_topic("blocks") or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        records: list[tuple[int, int, bytes]] = []
        give_up = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < give_up:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records += [(tp.partition, record.offset, record.value) for record in batch]
        return sorted(records)
    finally:
        consumer.close()


def by_block(receiver: WebhookReceiver) -> dict[int, list[str]]:
    """The delivery ids the receiver got, by block number."""
    found: dict[int, list[str]] = {}
    for request in receiver.requests:
        found.setdefault(request.json()["block"]["number"], []).append(request.header("Blockhook-Delivery-Id"))
    return found


def test_a_restart_keeps_monitors_secrets_deliveries_checkpoint_chain_and_topic(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    watched = "0x" + "4b" * 20
    with WebhookReceiver() as receiver:
        with running_stack(state, output=tmp_path / "first.out") as stack:
            monitor = watch(stack, receiver.url, watched)
            first = int(send_tx(stack.rpc, SENDER, watched, value=1)["blockNumber"], 16)
            receiver.wait_for(timeout=60)
            stack.wait_processed(31337, first)
            # From block 1: an Anvil that reloads its state serves a regenerated block 0 (the blocks after it
            # still name the original as their parent).
            hashes = {n: block_hash(stack.rpc, n) for n in range(1, first + 1)}
            records = topic_records(f"127.0.0.1:{stack.kafka_port}")
            delivered = stack.call("GET", f"/monitors/{monitor['id']}/deliveries").json()["items"]
        assert [item["status"] for item in delivered] == ["delivered"]

        # While the stack is down, its chain goes on: a transfer lands in a block the stack never saw.
        port = servers.free_port()
        node = servers.anvil(port, state_path=state / "chain.json", log_path=tmp_path / "anvil.log").start()
        try:
            assert block_hash(node.url, first) == hashes[first]
            while_down = int(send_tx(node.url, SENDER, watched, value=2)["blockNumber"], 16)
        finally:
            node.stop()

        with running_stack(state, output=tmp_path / "second.out") as stack:
            assert {n: block_hash(stack.rpc, n) for n in range(1, first + 1)} == hashes
            assert int(rpc(stack.rpc, "eth_blockNumber", []), 16) >= while_down
            assert stack.call("GET", f"/monitors/{monitor['id']}").json()["name"] == "kept"
            listed = stack.call("GET", f"/monitors/{monitor['id']}/addresses").json()["items"]
            assert [item["address"] for item in listed] == [watched]
            after = int(send_tx(stack.rpc, SENDER, watched, value=3)["blockNumber"], 16)
            receiver.wait_for(lambda seen: len(seen) >= 3, timeout=60)
            stack.wait_processed(31337, after)
            time.sleep(2)  # a repeated delivery of the first block would have come by now
            receiver.verify_all(monitor["secret"])  # signed with the secret from before the restart
            kept = stack.call("GET", f"/monitors/{monitor['id']}/deliveries").json()["items"]
            assert topic_records(f"127.0.0.1:{stack.kafka_port}")[: len(records)] == records
    assert {number: len(ids) for number, ids in by_block(receiver).items()} == {first: 1, while_down: 1, after: 1}
    assert delivered[0]["id"] in [item["id"] for item in kept]
    assert len(kept) == 3


def test_a_node_on_another_chain_starts_the_chain_fresh_and_a_reset_starts_clean(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    watched = "0x" + "4c" * 20
    with WebhookReceiver() as receiver:
        with running_stack(state, output=tmp_path / "first.out") as stack:
            monitor = watch(stack, receiver.url, watched)
            rpc(stack.rpc, "anvil_mine", ["0x14"])  # the checkpoint ends up far above the new chain's head
            old = int(send_tx(stack.rpc, SENDER, watched, value=1)["blockNumber"], 16)
            receiver.wait_for(timeout=60)
            stack.wait_processed(31337, old)
            old_genesis = block_hash(stack.rpc, 0)
        (state / "chain.json").unlink()  # the next start runs a new chain under the same chain id

        with running_stack(state, output=tmp_path / "second.out") as stack:
            new_genesis = block_hash(stack.rpc, 0)
            assert new_genesis != old_genesis
            fresh = int(send_tx(stack.rpc, SENDER, watched, value=2)["blockNumber"], 16)
            assert fresh < old
            requests = receiver.wait_for(lambda seen: len(seen) >= 2, timeout=60)
            assert requests[1].json()["block"]["number"] == fresh
            assert requests[1].json()["block"]["hash"] == block_hash(stack.rpc, fresh)
            receiver.verify_all(monitor["secret"])
            assert stack.call("GET", "/chains").json()["items"][0]["last_processed"] >= fresh
        warnings = [line for line in (tmp_path / "second.out").read_text().splitlines() if "WARNING" in line]
        assert len(warnings) == 1 and "chain 31337" in warnings[0], warnings
        assert old_genesis in warnings[0] and new_genesis in warnings[0]

    with running_stack(state, extra_env={"BLOCKHOOK_RESET": "1"}, output=tmp_path / "third.out") as stack:
        assert stack.call("GET", "/monitors").json()["items"] == []
        assert int(rpc(stack.rpc, "eth_blockNumber", []), 16) < fresh
