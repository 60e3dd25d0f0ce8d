"""MatchService against DynamoDB and SQS on a real moto server: blocks in, recorded and queued deliveries out.

Every test uses its own tenant, chain id and addresses, so monitors of other tests (the tables are
shared) can neither match its events nor be matched by them."""

from __future__ import annotations

import json
import random
import time

import boto3
import pytest
from eth_utils import keccak

from blockhook.delivery.queue import DeliveryQueue
from blockhook.delivery.service import DeliveryService
from blockhook.matching.index import WatchIndex
from blockhook.matching.service import MatchService
from blockhook.store import monitors as monitor_store
from blockhook.store.chain_state import record_head
from blockhook.store.deliveries import get_delivery, list_deliveries, record_attempt
from blockhook.store.secret_box import configured_secret_box
from blockhook.streaming.codec import encode_revert
from tests.integration.test_delivery_service import drain
from tests.support.builders import Block, create_monitor, new_address, new_hash

pytestmark = pytest.mark.integration

TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
APPROVAL = "0x" + keccak(text="Approval(address,address,uint256)").hex()


@pytest.fixture
def service(queue_url) -> MatchService:
    deliveries = DeliveryService(
        DeliveryQueue(queue_url, client=boto3.client("sqs")), schedule=(1, 2), allow_private_webhooks=True, box=configured_secret_box()
    )
    return MatchService(WatchIndex(), deliveries)


def payload_of(delivery_id: str) -> dict:
    return json.loads(get_delivery(delivery_id).payload)


def deliveries_of(monitor) -> list:
    items, _ = list_deliveries(monitor.monitor_id, None, 100, None)
    return items


def only_delivery(monitor):
    (record,) = deliveries_of(monitor)
    return record


def test_watched_events_become_recorded_and_queued_deliveries(service, queue_url, tenant_id, chain_id):
    customer, treasury, contract = new_address(), new_address(), new_address()
    stranger, token = new_address(), new_address()
    wallets = create_monitor(
        tenant_id, chain_id, ["transaction", "erc20_transfer"], [(customer, "customer-42"), (treasury, None)]
    )
    transfers_at = create_monitor(
        tenant_id, chain_id, ["log"], [(contract, "vault")],
        event_signatures=["Transfer(address indexed from, address indexed to, uint256 value)"],
    )
    block = Block(chain_id)
    deposit = block.transaction(0, stranger, customer)
    block.transaction(1, stranger, new_address())  # nobody watches either side
    payout = block.erc20(2, 0, token, treasury, stranger)
    block.log(2, 0, token, [TRANSFER, "0x" + "0" * 24 + treasury[2:], "0x" + "0" * 24 + stranger[2:]])
    vault_transfer = block.log(3, 1, contract, [TRANSFER])
    block.log(3, 2, contract, [APPROVAL])  # watched address, other event
    internal = block.transaction(4, customer, treasury)

    result = service.process(block.encode())

    assert (result.blocks, result.events, result.matches, result.deliveries, result.malformed) == (1, 7, 4, 2, 0)
    wallet_delivery, vault_delivery = only_delivery(wallets), only_delivery(transfers_at)
    assert (wallet_delivery.tenant_id, wallet_delivery.chain_id, wallet_delivery.block_hash) == (
        tenant_id, chain_id, block.header.hash
    )
    assert (wallet_delivery.status, int(wallet_delivery.attempts), int(wallet_delivery.event_count)) == (
        "pending", 0, 3
    )
    body = payload_of(wallet_delivery.delivery_id)
    assert body["monitor_id"] == wallets.monitor_id and body["removed"] is False
    assert body["block"] == block.header.as_payload_block()
    assert [e["id"] for e in body["events"]] == [deposit["id"], payout["id"], internal["id"]]
    assert [e["matched_addresses"] for e in body["events"]] == [[customer], [treasury], [customer, treasury]]
    assert [e.get("labels") for e in body["events"]] == [
        {customer: "customer-42"}, None, {customer: "customer-42"}
    ]
    assert {k: v for k, v in body["events"][0].items() if k not in ("matched_addresses", "labels")} == deposit

    vault_body = payload_of(vault_delivery.delivery_id)
    assert [(e["id"], e["matched_addresses"], e["labels"]) for e in vault_body["events"]] == [
        (vault_transfer["id"], [contract], {contract: "vault"})
    ]
    assert sorted(drain(queue_url)) == sorted([wallet_delivery.delivery_id, vault_delivery.delivery_id])


def test_internal_transfers_and_withdrawals_are_delivered_in_chain_order(service, queue_url, tenant_id, chain_id):
    exchange, router, stranger = new_address(), new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["internal_transfer", "withdrawal", "transaction"], [(exchange, "hot")])
    block = Block(chain_id)
    block.withdrawal(41, exchange, 32 * 10**18)  # listed first, credited after every transaction
    block.withdrawal(40, stranger, 1)
    payout = block.internal(3, "0.10", router, exchange, 5)
    earlier = block.internal(3, "0.2", router, exchange, 6)  # "0.2" comes before "0.10" in the call tree
    sent = block.transaction(3, exchange, router)
    block.internal(4, "0", router, stranger, 1)

    service.process(block.encode())

    events = payload_of(only_delivery(monitor).delivery_id)["events"]
    assert [e["id"] for e in events] == [sent["id"], earlier["id"], payout["id"], block.events[0]["id"]]
    assert events[-1]["matched_addresses"] == [exchange] and events[-1]["labels"] == {exchange: "hot"}


def test_repeated_messages_record_nothing_new_and_resend_only_unattempted(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitors = [create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)]) for _ in range(3)]
    block = Block(chain_id)
    block.transaction(0, watched, new_address())
    messages = block.encode()

    service.process(messages)
    first = [only_delivery(m) for m in monitors]
    assert sorted(drain(queue_url)) == sorted(record.delivery_id for record in first)
    retrying, delivered, untried = first
    record_attempt(retrying, status="retrying", status_code=500, error="HTTP 500", latency_ms=3,
                   next_attempt_at=time.time() + 60)
    record_attempt(delivered, status="delivered", status_code=200, error=None, latency_ms=3, next_attempt_at=None)

    again = service.process(messages)

    assert again.matches == 3
    after = [only_delivery(m) for m in monitors]  # still one record per monitor
    assert [(r.delivery_id, r.created_at) for r in after] == [(r.delivery_id, r.created_at) for r in first]
    assert [(r.status, int(r.attempts)) for r in after] == [("retrying", 1), ("delivered", 1), ("pending", 0)]
    # A record that never went out may have lost its message: only that one is queued again.
    assert drain(queue_url) == [untried.delivery_id]


def test_chunked_block_gives_one_delivery_per_chunk_and_repeats_nothing(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, "chunky")])
    block = Block(chain_id)
    for n in range(30):
        block.transaction(n, watched if n % 10 == 0 else new_address(), new_address())
    messages = block.encode(limit=2000)
    assert len(messages) >= 3

    service.process(messages)
    records = deliveries_of(monitor)
    events = [e for record in records for e in payload_of(record.delivery_id)["events"]]
    assert sorted(e["id"] for e in events) == sorted(block.events[n]["id"] for n in (0, 10, 20))
    assert all(e["matched_addresses"] == [watched] and e["labels"] == {watched: "chunky"} for e in events)
    assert len({r.delivery_id for r in records}) == len(records) >= 2
    assert all(r.block_hash == block.header.hash for r in records)
    assert sorted(drain(queue_url)) == sorted(r.delivery_id for r in records)

    for record in records:
        record_attempt(record, status="delivered", status_code=200, error=None, latency_ms=1, next_attempt_at=None)
    service.process(messages)
    assert sorted(r.delivery_id for r in deliveries_of(monitor)) == sorted(r.delivery_id for r in records)
    assert drain(queue_url) == []


def test_address_added_after_the_index_loaded_is_matched_from_the_head_of_that_moment(
    service, queue_url, tenant_id, chain_id
):
    kept, late = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(kept, None)])
    first = Block(chain_id, number=1)
    at_head = first.transaction(0, late, new_address())
    assert service.process(first.encode()).matches == 0  # `late` is not watched yet
    loaded_version = service.index.version

    # Block 1 is the head when the add is answered (as ingest recorded it): CONTRACT section 2
    # says it is matched too.
    record_head(chain_id, 1)
    monitor_store.add_addresses(monitor, [(late, "late")])
    second = Block(chain_id, number=2)
    payment = second.transaction(0, late, new_address())
    result = service.process(second.encode())

    assert service.index.version > loaded_version
    assert result.deliveries == 2  # block 1 caught up, block 2 live
    events = sorted(
        (event["id"], tuple(event["matched_addresses"]), event["labels"][late])
        for record in deliveries_of(monitor)
        for event in payload_of(record.delivery_id)["events"]
    )
    assert events == sorted([(at_head["id"], (late,), "late"), (payment["id"], (late,), "late")])

    # And a removed address stops matching from the next batch on.
    monitor_store.remove_addresses(monitor, [late])
    third = Block(chain_id, number=3)
    third.transaction(0, late, new_address())
    assert service.process(third.encode()).matches == 0
    assert len(deliveries_of(monitor)) == 2
    assert len(drain(queue_url)) == 2


def test_a_catch_up_sends_only_what_the_monitor_was_not_sent(service, queue_url, tenant_id, chain_id):
    old, late = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(old, None)])
    block = Block(chain_id, number=7)
    known = block.transaction(0, old, new_address())
    missed = block.transaction(1, late, new_address())
    service.process(block.encode())
    (first,) = deliveries_of(monitor)
    assert [e["id"] for e in payload_of(first.delivery_id)["events"]] == [known["id"]]

    record_head(chain_id, 7)
    monitor_store.add_addresses(monitor, [(late, None)])
    service.process([])  # the next batch sees the change before anything else

    records = deliveries_of(monitor)
    (catch_up,) = [record for record in records if record.delivery_id != first.delivery_id]
    assert [e["id"] for e in payload_of(catch_up.delivery_id)["events"]] == [missed["id"]]
    service.process([])  # nothing changed: nothing more
    assert len(deliveries_of(monitor)) == 2


def test_a_catch_up_starts_at_the_head_of_the_add_not_before(service, queue_url, tenant_id, chain_id):
    old, late = new_address(), new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(old, None)])
    earlier, head = Block(chain_id, number=20), Block(chain_id, number=21)
    earlier.transaction(0, late, new_address())  # before the head of the add: not promised
    at_head = head.transaction(0, late, new_address())
    service.process([*earlier.encode(), *head.encode()])  # one batch holding both

    record_head(chain_id, 21)
    monitor_store.add_addresses(monitor, [(late, None)])
    service.process([])

    events = [e["id"] for r in deliveries_of(monitor) for e in payload_of(r.delivery_id)["events"]]
    assert events == [at_head["id"]]


def test_a_change_that_adds_no_address_catches_nothing_up(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)], active=False)
    block = Block(chain_id, number=30)
    block.transaction(0, watched, new_address())
    service.process(block.encode())  # inactive: nothing

    record_head(chain_id, 30)
    monitor_store.update_monitor(monitor, {"active": True})
    service.process([])
    assert deliveries_of(monitor) == []  # only added addresses are matched from the past head


def test_unchanged_version_does_not_reload_the_index(service, tenant_id, chain_id):
    create_monitor(tenant_id, chain_id, ["transaction"], [(new_address(), None)])
    service.process([])
    assert service.index.refresh() is False


def test_malformed_records_are_counted_and_skipped(service, queue_url, tenant_id, chain_id):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction"], [(watched, None)])
    good = Block(chain_id, number=5)
    good.transaction(0, watched, new_address())
    bad_event = Block(chain_id, number=6)
    bad_event.transaction(0, watched, new_address())["tx_index"] = "0"  # would break the delivery's sort
    records = [
        b"\x00 not json",
        *bad_event.encode(),
        b'{"v": 2, "type": "block"}',
        *good.encode(),
        encode_revert(chain_id, 4, new_hash()),
    ]

    result = service.process(records)

    assert (result.malformed, result.blocks, result.reverts, result.deliveries) == (3, 1, 1, 1)
    record = only_delivery(monitor)
    assert record.block_hash == good.header.hash
    assert drain(queue_url) == [record.delivery_id]


@pytest.fixture
def watchers_of_calls(monkeypatch) -> list[list[str]]:
    """Every address-index lookup the matcher makes (the real function still answers)."""
    calls: list[list[str]] = []
    real = monitor_store.watchers_of

    def spy(addresses):
        addresses = list(addresses)
        calls.append(addresses)
        return real(addresses)

    monkeypatch.setattr(monitor_store, "watchers_of", spy)
    return calls


def test_block_with_nothing_watched_makes_no_address_index_query(
    service, queue_url, tenant_id, chain_id, watchers_of_calls
):
    watched = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["transaction", "erc20_transfer", "log"], [(watched, None)])
    # A monitor with no address filter matches without any address lookup either.
    every_log = create_monitor(tenant_id, chain_id, ["log"])
    busy = Block(chain_id, number=7)
    for n in range(300):
        busy.transaction(n, new_address(), new_address())
        busy.erc20(n, 2 * n, new_address(), new_address(), new_address())
        busy.log(n, 2 * n + 1, new_address(), [TRANSFER])

    result = service.process(busy.encode())

    assert watchers_of_calls == []
    assert (result.events, result.matches) == (900, 300)
    assert deliveries_of(monitor) == []
    assert sum(int(r.event_count) for r in deliveries_of(every_log)) == 300

    # The spy does see a lookup once a watched address is in a block.
    quiet = Block(chain_id, number=8)
    quiet.transaction(0, new_address(), watched)
    quiet.transaction(1, new_address(), new_address())
    assert service.process(quiet.encode()).matches == 1
    assert watchers_of_calls == [[watched]]
    assert len(deliveries_of(monitor)) == 1


def test_version_2_messages_give_the_deliveries_version_1_gave(service, tenant_id, chain_id):
    # The same blocks and monitors on two chains: one read from version 1 messages, the other from
    # version 2 ones (with a version 1 message among them, as in the topic just after an upgrade).
    rng = random.Random(16)
    people = [new_address() for _ in range(6)]
    token, block_hashes, strangers = new_address(), [new_hash() for _ in range(4)], [new_address() for _ in range(9)]
    found = {}
    for chain, versions in ((chain_id, (1, 1, 1, 1)), (chain_id + 1_000_000_000, (2, 1, 2, 2))):
        monitors = [
            create_monitor(tenant_id, chain, ["transaction", "erc20_transfer"], [(people[0], "a"), (people[1], None)]),
            create_monitor(tenant_id, chain, ["log", "erc20_transfer"], None, contracts=[token]),
            create_monitor(tenant_id, chain, ["native_transfer"], None, condition="event.value > 500"),
        ]
        values = []
        rng.seed(16)
        for number, (block_hash, version) in enumerate(zip(block_hashes, versions, strict=True)):
            block = Block(chain, 300 + number, block_hash=block_hash)
            for tx in range(8):
                sender, to = rng.choice(people), rng.choice(people + strangers)
                block.transaction(tx, sender, to)
                block.native_transfer(tx, sender, to, rng.randrange(1000))
                block.erc20(tx, tx, rng.choice([token, *strangers]), sender, to)
                block.log(tx, tx, token, [TRANSFER])
            values += block.encode(version=version)
        result = service.process(values)
        assert result.malformed == 0
        found[chain] = [
            sorted(
                (record.block_hash, [({k: v for k, v in e.items() if k not in ("id", "chain_id")}, e["id"].split(":", 1)[1])
                                     for e in payload_of(record.delivery_id)["events"]])
                for record in deliveries_of(monitor)
            )
            for monitor in monitors
        ]
    assert all(found[chain_id]) and found[chain_id] == found[chain_id + 1_000_000_000]
