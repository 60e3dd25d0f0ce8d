"""Delivery queue messages: `{"delivery_id", "correlation_id"}`, the correlation id optional (messages
queued before it existed are still in flight), the delivery id required."""

from __future__ import annotations

import json

import pytest

from blockhook.delivery.queue import DeliveryMessage, parse_message, read_message

DELIVERY_ID = "dlv_0123456789abcdef"
BLOCK_ID = "8453:0x" + "ab" * 32


def test_a_message_with_a_correlation_id_gives_both():
    body = json.dumps({"delivery_id": DELIVERY_ID, "correlation_id": BLOCK_ID})
    assert read_message(body) == DeliveryMessage(DELIVERY_ID, BLOCK_ID)
    assert parse_message(body) == DELIVERY_ID


def test_a_message_without_a_correlation_id_is_still_a_delivery_message():
    body = json.dumps({"delivery_id": DELIVERY_ID})
    assert read_message(body) == DeliveryMessage(DELIVERY_ID, None)
    assert parse_message(body) == DELIVERY_ID


@pytest.mark.parametrize("correlation_id", [None, "", 42, ["a"], {"id": "a"}])
def test_a_correlation_id_that_is_not_a_string_is_dropped_not_the_message(correlation_id):
    body = json.dumps({"delivery_id": DELIVERY_ID, "correlation_id": correlation_id})
    assert read_message(body) == DeliveryMessage(DELIVERY_ID, None)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "null",
        '"dlv_x"',
        '["dlv_x"]',
        "{}",
        json.dumps({"correlation_id": BLOCK_ID}),
        json.dumps({"delivery_id": "", "correlation_id": BLOCK_ID}),
        json.dumps({"delivery_id": 7, "correlation_id": BLOCK_ID}),
        json.dumps({"delivery_id": None}),
    ],
)
def test_a_message_without_a_delivery_id_string_is_refused_with_or_without_a_correlation_id(body):
    with pytest.raises(ValueError, match="not a delivery message"):
        read_message(body)
    with pytest.raises(ValueError, match="not a delivery message"):
        parse_message(body)


def test_a_message_names_its_monitor_when_it_has_one():
    body = json.dumps({"delivery_id": "dlv_1", "correlation_id": "1:0xab", "monitor_id": "mon_1"})
    assert read_message(body) == DeliveryMessage("dlv_1", "1:0xab", "mon_1")
    assert read_message(json.dumps({"delivery_id": "dlv_1", "monitor_id": 7})).monitor_id is None
    assert read_message(json.dumps({"delivery_id": "dlv_1"})).monitor_id is None
