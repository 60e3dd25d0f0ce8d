"""A 2 MiB event through MatchService, DynamoDB, S3 and SQS on the moto server: kept while pending,
released, posted whole, and taken back whole after a reorg, with no DynamoDB item holding it."""

from __future__ import annotations

import json
import random

import pytest

from blockhook.store.blobs import MAX_INLINE_ITEM_BYTES, configured_blobs
from blockhook.store.deliveries import delivery_payload
from blockhook.store.matches import decode_events, matches_of_block
from blockhook.streaming.codec import encode_revert
from tests.integration.test_delivery_service import drain
from tests.integration.test_matching_service import deliveries_of
from tests.integration.test_matching_service import service as service  # noqa: F401 - a fixture
from tests.support.builders import Block, create_monitor, new_address
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.integration

TOPIC = "0x" + "7b" * 32


def claims(data: bytes) -> str:
    return configured_blobs().put("events/test", data)


def large_block(chain_id: int, number: int, emitter: str) -> tuple[Block, dict]:
    block = Block(chain_id, number)
    small = block.log(0, 0, emitter, [TOPIC])
    large = block.log(1, 1, emitter, [TOPIC])
    large["data"] = "0x" + random.Random(number).randbytes(2 * 1024 * 1024).hex()
    return block, {"small": small, "large": large}


def test_a_pending_large_match_is_released_posted_whole_and_taken_back_whole(
    service, tenant_id, chain_id, queue_url  # noqa: F811 - the fixture
):
    emitter = new_address()
    with WebhookReceiver() as receiver:
        monitor = create_monitor(tenant_id, chain_id, ["log"], contracts=[emitter], confirmations=2,
                                 webhook_url=receiver.url)  # fmt: skip
        block, events = large_block(chain_id, 500, emitter)
        (message,) = block.encode(claims=claims)
        assert len(message) < 10_000  # the data crossed as a claim check
        service.process([message])

        (item,) = matches_of_block(chain_id, block.header.hash)
        assert item.status == "pending" and item.events is None and item.events_ref.startswith("matches/")
        assert [e["data"] for e in decode_events(item)] == [events["small"]["data"], events["large"]["data"]]
        assert deliveries_of(monitor) == []

        service.process(Block(chain_id, 502).encode())  # two blocks on it: released
        (record,) = deliveries_of(monitor)
        assert record.payload is None and record.payload_ref.startswith("deliveries/")
        assert drain(queue_url) == [record.delivery_id]
        assert service.deliveries.attempt(record.delivery_id) == "delivered"
        (posted,) = receiver.payloads()
        assert [e["data"] for e in posted["events"]] == [events["small"]["data"], events["large"]["data"]]
        assert all("claim" not in e for e in posted["events"])
        assert posted == json.loads(delivery_payload(record))  # the body sent is the one recorded
        assert posted["sequence"] == int(record.sequence) == 1  # numbered, though its body is kept in S3

        service.process([encode_revert(chain_id, block.header.number, block.header.hash)])
        removed = [r for r in deliveries_of(monitor) if r.removed]
        (taken_back,) = removed
        assert taken_back.payload_ref and taken_back.payload is None
        body = json.loads(delivery_payload(taken_back))
        assert body["removed"] is True
        assert body["sequence"] == int(taken_back.sequence) == 2
        assert [e["id"] for e in body["events"]] == [events["small"]["id"], events["large"]["id"]]
        assert body["events"][1]["data"] == events["large"]["data"]


def test_a_match_or_body_that_fits_stays_inline(service, tenant_id, chain_id):  # noqa: F811 - the fixture
    emitter = new_address()
    monitor = create_monitor(tenant_id, chain_id, ["log"], contracts=[emitter])
    block = Block(chain_id, 600)
    block.log(0, 0, emitter, [TOPIC])["data"] = "0x" + "ab" * (MAX_INLINE_ITEM_BYTES // 4)
    service.process(block.encode(claims=claims))
    (item,) = matches_of_block(chain_id, block.header.hash)
    assert item.events is not None and item.events_ref is None
    (record,) = deliveries_of(monitor)
    assert record.payload is not None and record.payload_ref is None
