"""A reconcile's blocks in the matcher (MatchService against DynamoDB and SQS on a real moto server):
compared with the monitor's deliveries, findings recorded once, heal sent once under the same ids
when a message comes again, a stale block's matches taken back with it. The whole path, from the
node through ingest and Kafka: tests/e2e/test_reconcile.py."""

from __future__ import annotations

import secrets

import pytest

from blockhook.store import reconciles
from blockhook.store.matches import matches_of_block
from blockhook.store.models import DeliveryModel
from blockhook.store.monitors import get_monitor
from blockhook.streaming.codec import BlockHeader, ReconcileTarget
from tests.integration.test_matching_service import deliveries_of, payload_of, service  # noqa: F401 - `service` is a fixture
from tests.support.builders import Block, create_monitor, new_address, new_hash

pytestmark = pytest.mark.integration


def start(monitor, chain_id: int, number: int, heal: bool):
    model = get_monitor(monitor.tenant_id, monitor.monitor_id)
    return reconciles.start_reconcile(model, chain_id, number, number, heal)


def job_of(monitor):
    return get_monitor(monitor.tenant_id, monitor.monitor_id).reconcile


def event_ids(record) -> list[str]:
    return [event["id"] for event in payload_of(record.delivery_id)["events"]]


def test_a_chunked_block_missing_its_delivery_is_found_and_healed_once_even_when_its_messages_come_again(
    service, tenant_id, chain_id  # noqa: F811
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, "hot")])
    block = Block(chain_id)
    sent = [block.transaction(n, new_address(), watched)["id"] for n in range(6)]
    block.transaction(6, new_address(), new_address())  # nobody's
    live = block.encode(limit=2_000)  # in several chunks
    assert len(live) > 2
    service.process(live)
    lost = deliveries_of(monitor)
    assert sorted(i for record in lost for i in event_ids(record)) == sorted(sent)
    for record in lost:
        record.delete()  # never made

    job = start(monitor, chain_id, block.header.number, heal=True)
    messages = block.encode(limit=2_000, backfill=ReconcileTarget(monitor.monitor_id, job.job_id))
    service.process(messages[:1])
    assert (job_of(monitor).status, job_of(monitor).checked_block) == ("running", block.header.number)
    service.process(messages[1:])
    found = job_of(monitor)
    assert found.status == "done" and sorted(found.missing) == sorted(sent)
    assert (found.missing_count, found.extra_count, found.extra) == (len(sent), 0, [])
    healed = deliveries_of(monitor)
    assert sorted(i for record in healed for i in event_ids(record)) == sorted(sent)
    assert {payload_of(r.delivery_id)["events"][0]["labels"][watched] for r in healed} == {"hot"}

    # Its messages again (a matcher batch retried): nothing recorded twice, nothing sent twice.
    service.process(messages)
    assert sorted(job_of(monitor).missing) == sorted(sent) and job_of(monitor).missing_count == len(sent)
    assert sorted(r.delivery_id for r in deliveries_of(monitor)) == sorted(r.delivery_id for r in healed)

    # A matcher that recorded the findings but stopped before the heal: a repeat sends the same ones.
    gone = healed[0]
    gone.delete()
    service.process(messages)
    assert sorted(r.delivery_id for r in deliveries_of(monitor)) == sorted(r.delivery_id for r in healed)
    assert job_of(monitor).missing_count == len(sent)

    # Another reconcile of the block finds everything delivered.
    second = start(monitor, chain_id, block.header.number, heal=True)
    service.process(block.encode(limit=2_000, backfill=ReconcileTarget(monitor.monitor_id, second.job_id)))
    after = job_of(monitor)
    assert (after.status, after.missing, after.extra, after.missing_count) == ("done", [], [], 0)
    assert len(deliveries_of(monitor)) == len(healed)


def test_a_stale_block_whose_revert_never_came_is_taken_back_and_sent_again_if_it_returns(
    service, tenant_id, chain_id  # noqa: F811
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    stale = Block(chain_id, number=200)
    (event_id,) = [stale.transaction(0, new_address(), watched)["id"]]
    service.process(stale.encode())
    (first,) = deliveries_of(monitor)

    # The chain now has another block at that height, and no revert of the first ever came.
    canonical = Block(chain_id, number=200)
    canonical.header = BlockHeader(chain_id, 200, new_hash(), stale.header.parent_hash, stale.header.timestamp)
    canonical.transaction(0, new_address(), new_address())
    report = start(monitor, chain_id, 200, heal=False)
    service.process(canonical.encode(backfill=ReconcileTarget(monitor.monitor_id, report.job_id)))
    assert (job_of(monitor).missing, job_of(monitor).extra, job_of(monitor).status) == ([], [event_id], "done")
    assert len(deliveries_of(monitor)) == 1  # found, not healed

    heal = start(monitor, chain_id, 200, heal=True)
    service.process(canonical.encode(backfill=ReconcileTarget(monitor.monitor_id, heal.job_id)))
    assert job_of(monitor).extra == [event_id]
    taken_back = next(r for r in deliveries_of(monitor) if r.delivery_id != first.delivery_id)
    assert (taken_back.removed, taken_back.block_hash, event_ids(taken_back)) == (True, stale.header.hash, [event_id])
    (match,) = matches_of_block(chain_id, stale.header.hash)
    assert match.status == "removed"

    # The stale block comes back (a chain that flips back): it is sent again, in a new delivery.
    service.process(stale.encode())
    records = deliveries_of(monitor)
    assert len(records) == 3
    newest = max(records, key=lambda record: int(record.created_at))
    assert (newest.removed, event_ids(newest)) == (False, [event_id])

    last = start(monitor, chain_id, 200, heal=False)
    service.process(stale.encode(backfill=ReconcileTarget(monitor.monitor_id, last.job_id)))
    assert (job_of(monitor).missing, job_of(monitor).extra) == ([], [])


def test_a_reconcile_message_of_an_old_or_failed_job_records_nothing(service, tenant_id, chain_id):  # noqa: F811
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    block = Block(chain_id)
    block.transaction(0, new_address(), watched)
    old = start(monitor, chain_id, block.header.number, heal=True)
    reconciles.fail_reconcile(get_monitor(monitor.tenant_id, monitor.monitor_id), old.job_id, "given up")
    service.process(block.encode(backfill=ReconcileTarget(monitor.monitor_id, old.job_id)))
    assert (job_of(monitor).status, job_of(monitor).missing) == ("failed", [])
    new = start(monitor, chain_id, block.header.number, heal=False)
    service.process(block.encode(backfill=ReconcileTarget(monitor.monitor_id, old.job_id)))
    assert (job_of(monitor).job_id, job_of(monitor).status, job_of(monitor).missing) == (new.job_id, "queued", [])
    assert deliveries_of(monitor) == []  # nothing healed either


def test_a_heal_of_more_than_one_delivery_cut_short_is_completed_by_a_repeat(service, tenant_id, chain_id):  # noqa: F811
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    block = Block(chain_id)
    sent = [block.transaction(n, new_address(), watched)["id"] for n in range(150)]
    job = start(monitor, chain_id, block.header.number, heal=True)  # never delivered live: all missing
    (message,) = block.encode(backfill=ReconcileTarget(monitor.monitor_id, job.job_id))
    service.process([message])
    first, second = sorted(deliveries_of(monitor), key=lambda record: len(event_ids(record)), reverse=True)
    assert (event_ids(first), event_ids(second)) == (sent[:100], sent[100:])

    second.delete()  # the matcher stopped after the heal's first delivery
    service.process([message])
    healed = deliveries_of(monitor)
    assert sorted(r.delivery_id for r in healed) == sorted([first.delivery_id, second.delivery_id])
    assert sorted(i for record in healed for i in event_ids(record)) == sorted(sent)
    assert job_of(monitor).missing_count == 150


def test_a_block_the_reconcile_cannot_compare_fails_the_job_and_never_holds_up_the_live_blocks(
    service, tenant_id, chain_id  # noqa: F811
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    past = Block(chain_id, number=300)
    past.transaction(0, new_address(), watched)
    # A delivery of that height whose body is gone from the bucket: it cannot be read, now or later.
    unreadable = "dlv_" + secrets.token_hex(16)
    DeliveryModel(
        unreadable, monitor_id=monitor.monitor_id, tenant_id=tenant_id, chain_id=chain_id, block_number=300,
        block_hash=past.header.hash, removed=False, event_count=1, payload=None,
        payload_ref=f"deliveries/{chain_id}/gone", created_at=1,
    ).save()  # fmt: skip
    job = start(monitor, chain_id, 300, heal=True)
    live = Block(chain_id, number=400)
    live.transaction(0, new_address(), watched)

    result = service.process([*past.encode(backfill=ReconcileTarget(monitor.monitor_id, job.job_id)), *live.encode()])

    failed = job_of(monitor)
    assert failed.status == "failed" and failed.error.startswith("block 300: BlobUnavailable")
    assert result.blocks == 2
    (delivered,) = [r for r in deliveries_of(monitor) if int(r.block_number) == 400]  # the live block went on
    assert not any(int(r.block_number) == 300 and r.delivery_id != unreadable for r in deliveries_of(monitor))


def test_the_ids_kept_on_the_job_stop_at_a_thousand_and_the_counts_tell_all(service, tenant_id, chain_id):  # noqa: F811
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    blocks = [Block(chain_id, number=500 + n) for n in range(2)]
    sent = [[block.transaction(n, new_address(), watched)["id"] for n in range(600)] for block in blocks]
    model = get_monitor(monitor.tenant_id, monitor.monitor_id)
    job = reconciles.start_reconcile(model, chain_id, 500, 501, heal=False)  # never delivered: all missing
    for block in blocks:
        service.process(block.encode(backfill=ReconcileTarget(monitor.monitor_id, job.job_id)))
    found = job_of(monitor)
    assert (found.status, found.missing_count) == ("done", 1200)
    assert found.missing == sent[0] + sent[1][:400]  # in block order, then chain order
    assert deliveries_of(monitor) == []
