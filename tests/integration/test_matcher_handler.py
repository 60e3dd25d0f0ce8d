"""functions/matcher/handler.py: the MSK event in, a partial batch response out.

A record that raises is reported with every later record of its partition (a chain's blocks share a
partition and are matched in order); records of other partitions are still processed. Identifiers
have the Kafka shape {"partition": "<topic>-<partition>", "offset": N}."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest

from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import BatchResult, MatchService
from blockhook.store.deliveries import list_deliveries
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import Base64Value, decode
from tests.integration.test_delivery_service import drain
from tests.support.builders import Block, create_monitor, msk_event, new_address

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def matcher_handler():
    spec = importlib.util.spec_from_file_location("matcher_handler_under_test", REPO_ROOT / "functions/matcher/handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ScriptedService:
    """Stands in for MatchService: records what it was handed, raises on the values named `poison`."""

    def __init__(self, poison: set[bytes] = frozenset(), fail_at_end: bool = False) -> None:
        self.poison = poison
        self.fail_at_end = fail_at_end
        self.seen: list[bytes] = []
        self.positions: list[tuple[str, int]] = []
        self.calls = 0

    def process(self, records) -> BatchResult:
        self.calls += 1
        result = BatchResult()
        for record in records:
            # The handler hands each value on as the base64 text it came in (the codec decodes what it reads).
            assert isinstance(record.value, Base64Value)
            value = record.value.whole()
            self.positions.append((record.partition, record.offset))
            if value in self.poison:
                raise RuntimeError(f"cannot process {value!r}")
            self.seen.append(value)
            result.blocks += 1
        if self.fail_at_end:
            raise RuntimeError("progress write failed")
        return result


def failures(response: dict) -> list[tuple[str, int]]:
    return [(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in response["batchItemFailures"]]


def test_clean_batch_reports_no_failures_in_one_call(matcher_handler) -> None:
    service = ScriptedService()
    matcher_handler.metrics.clear_metrics()
    response = matcher_handler.process_batch(msk_event({0: [b"a", b"b"], 1: [b"c"]}), service)
    # Only the key Lambda reads: the counts go to metrics.
    assert response == {"batchItemFailures": []}
    recorded = matcher_handler.metrics.metric_set
    assert recorded["MatcherBlocks"]["Value"] == [3.0] and recorded["MatcherFailedRecords"]["Value"] == [0.0]
    matcher_handler.metrics.clear_metrics()
    assert service.seen == [b"a", b"b", b"c"]
    # Each value comes with its place on the topic: a repeat is told from a block that came back by it.
    assert service.positions == [("blocks-0", 40), ("blocks-0", 41), ("blocks-1", 40)]
    assert service.calls == 1  # one batch, one version read: not one call per record


def test_failing_record_and_the_rest_of_its_partition_are_reported(matcher_handler) -> None:
    service = ScriptedService(poison={b"b"})
    event = msk_event({0: [b"a", b"b", b"c", b"d"], 1: [b"x", b"y"]})
    response = matcher_handler.process_batch(event, service)
    # b failed: b, c and d stay unprocessed and are reported, in order; partition 1 still went through.
    assert failures(response) == [("blocks-0", 41), ("blocks-0", 42), ("blocks-0", 43)]
    assert service.seen == [b"a", b"x", b"y"]
    recorded = matcher_handler.metrics.metric_set  # counts of the call that completed
    assert recorded["MatcherBlocks"]["Value"][-1] == 2.0 and recorded["MatcherFailedRecords"]["Value"][-1] == 3.0
    matcher_handler.metrics.clear_metrics()


def test_failure_in_a_later_partition_keeps_earlier_work(matcher_handler) -> None:
    service = ScriptedService(poison={b"y", b"c"})
    event = msk_event({0: [b"a", b"b"], 1: [b"x", b"y", b"z"], 2: [b"c", b"d"]})
    response = matcher_handler.process_batch(event, service)
    assert failures(response) == [("blocks-1", 41), ("blocks-1", 42), ("blocks-2", 40), ("blocks-2", 41)]
    assert service.seen == [b"a", b"b", b"x"]


def test_every_record_failing_reports_each_first(matcher_handler) -> None:
    service = ScriptedService(poison={b"a", b"x"})
    response = matcher_handler.process_batch(msk_event({0: [b"a", b"b"], 3: [b"x"]}), service)
    assert failures(response) == [("blocks-0", 40), ("blocks-0", 41), ("blocks-3", 40)]
    assert service.seen == []


def test_failure_outside_any_record_fails_the_whole_invocation(matcher_handler) -> None:
    # After the last record (progress write, catch-up) no record is to blame: the batch is retried whole.
    with pytest.raises(RuntimeError, match="progress write failed"):
        matcher_handler.process_batch(msk_event({0: [b"a"]}), ScriptedService(fail_at_end=True))


def test_response_is_json_with_lambda_kafka_identifiers(matcher_handler) -> None:
    response = matcher_handler.process_batch(msk_event({7: [b"p"]}), ScriptedService(poison={b"p"}))
    (failure,) = json.loads(json.dumps(response))["batchItemFailures"]
    assert failure == {"itemIdentifier": {"partition": "blocks-7", "offset": 40}}


class FlakyMatchService(MatchService):
    """The real MatchService, with one transient failure on one block (a throttled DynamoDB, say)."""

    def __init__(self, *args, fail_hash: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_hash = fail_hash

    def _process_block(self, message, matches, result, position=None) -> None:
        if message.header.hash == self.fail_hash:
            self.fail_hash = ""  # once
            raise RuntimeError("ProvisionedThroughputExceededException")
        super()._process_block(message, matches, result, position)


def test_real_matcher_retry_of_reported_records_delivers_each_block_once(
    matcher_handler, moto_endpoint, queue_url, tenant_id, chain_id
) -> None:
    # No address list: it watches every transaction of this test's own chain.
    monitor = create_monitor(tenant_id, chain_id, ["transaction"])
    blocks = [Block(chain_id, number) for number in (100, 101, 102)]
    for block in blocks:
        block.transaction(0, new_address(), new_address())
    values = [block.encode()[0] for block in blocks]
    assert [decode(v).header.number for v in values] == [100, 101, 102]

    deliveries = DeliveryService(
        DeliveryQueue(queue_url, client=boto3.client("sqs")), schedule=(1, 2), allow_private_webhooks=True, box=configured_secret_box()
    )
    service = FlakyMatchService(WatchIndex(), deliveries, fail_hash=blocks[1].header.hash)
    event = msk_event({0: values})
    response = matcher_handler.process_batch(event, service)
    assert failures(response) == [("blocks-0", 41), ("blocks-0", 42)]
    items, _ = list_deliveries(monitor.monitor_id, None, 100, None)
    assert sorted(json.loads(d.payload)["block"]["number"] for d in items) == [100]

    # Lambda resumes the partition at the lowest reported offset; here the whole batch comes again,
    # which is what bisect or a retry of an unattributed failure does: repeats record nothing new.
    again = matcher_handler.process_batch(event, service)
    assert again["batchItemFailures"] == []
    items, _ = list_deliveries(monitor.monitor_id, None, 100, None)
    assert sorted(json.loads(d.payload)["block"]["number"] for d in items) == [100, 101, 102]
    assert len(set(drain(queue_url))) == 3
