"""POST /v1/monitors/{id}/deliveries/replay (the monitor's failed or delivered deliveries of a time range
sent again) and `last_delivery` on monitor answers, through the deployed API handler against a moto
server; the queue the API replays into is drained and handed to DeliveryService as the deliver function does."""

from __future__ import annotations

import pytest

from blockhook.api import delivery_routes
from blockhook.store.deliveries import get_delivery, record_attempt
from blockhook.store.models import DeliveryModel
from tests.integration.test_delivery_routes import KEY_B, api, record, record_in_order, service  # noqa: F401
from tests.integration.test_delivery_service import drain, run_queue
from tests.support.api import assert_error
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.integration

T = 1_765_015_200  # unix seconds: the deliveries below are made to have been created around it


def settle(delivery_id: str, status: str, created_at: int | None = None) -> None:
    """Record an attempt that leaves the delivery `status`; `created_at` (unix seconds) moves its creation."""
    record = get_delivery(delivery_id)
    if created_at is not None:
        record.update(actions=[DeliveryModel.created_at.set(created_at * 1000 + 500)])
    if status != "pending":
        ok = status == "delivered"
        record_attempt(record, status=status, status_code=200 if ok else 500, error=None if ok else "HTTP 500",
                       latency_ms=5, next_attempt_at=None)  # fmt: skip


def replay(api, monitor: dict, body: dict) -> dict:  # noqa: F811
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/deliveries/replay", body)
    assert answer.status == 202, answer.raw
    assert set(answer.body) == {"replayed", "delivery_ids", "more"}
    assert answer.body["replayed"] == len(answer.body["delivery_ids"])
    return answer.body


def test_the_failed_deliveries_of_the_range_are_replayed_oldest_first(api, service):  # noqa: F811
    monitor = api.create()
    before, first, second, delivered, pending, third, after = record_in_order(service, monitor, 7)
    drain(api.queue_url)
    for delivery_id, status, created in [
        (before, "failed", T - 100), (first, "failed", T - 60), (delivered, "delivered", T - 50),
        (second, "failed", T - 40), (pending, "pending", T - 30), (third, "failed", T - 20), (after, "failed", T + 1),
    ]:  # fmt: skip
        settle(delivery_id, status, created)

    answer = replay(api, monitor, {"status": "failed", "since": T - 60, "until": T - 20})
    assert answer == {"replayed": 3, "delivery_ids": [first, second, third], "more": False}
    assert sorted(drain(api.queue_url)) == sorted([first, second, third])  # queued, as one replay queues
    for delivery_id in (first, second, third):
        record = get_delivery(delivery_id)
        assert (record.status, record.replayed_at_attempt, record.attempts) == ("pending", 1, 1)
    assert {delivery_id: get_delivery(delivery_id).status for delivery_id in (before, delivered, pending, after)} == {
        before: "failed", delivered: "delivered", pending: "pending", after: "failed",
    }  # fmt: skip

    # The replayed ones are pending now: the same call finds nothing more.
    assert replay(api, monitor, {"since": T - 60, "until": T - 20}) == {"replayed": 0, "delivery_ids": [], "more": False}
    # `until` defaults to now; `status` to failed.
    assert replay(api, monitor, {"since": 0})["delivery_ids"] == [before, after]


def test_a_replayed_delivery_is_posted_again(api, service):  # noqa: F811
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)
        delivery_id = record(service, monitor)
        drain(api.queue_url)
        settle(delivery_id, "failed", T)
        assert replay(api, monitor, {"since": T, "until": T})["delivery_ids"] == [delivery_id]
        assert run_queue(service, api.queue_url) == ["delivered"]
        (request,) = receiver.verify_all(monitor["secret"])
    assert request.json()["id"] == delivery_id


def test_more_says_that_more_remain_and_the_next_call_goes_on(api, service, monkeypatch):  # noqa: F811
    monkeypatch.setattr(delivery_routes, "MAX_REPLAYED_PER_CALL", 2)
    monitor = api.create()
    ids = record_in_order(service, monitor, 5)
    for offset, delivery_id in enumerate(ids):
        settle(delivery_id, "failed", T + offset)
    drain(api.queue_url)

    body = {"since": T, "until": T + 10}
    assert replay(api, monitor, body) == {"replayed": 2, "delivery_ids": ids[:2], "more": True}
    assert replay(api, monitor, body) == {"replayed": 2, "delivery_ids": ids[2:4], "more": True}
    assert replay(api, monitor, body) == {"replayed": 1, "delivery_ids": ids[4:], "more": False}
    assert sorted(drain(api.queue_url)) == sorted(ids)


def test_status_delivered_replays_the_delivered_ones_only(api, service):  # noqa: F811
    monitor = api.create()
    failed, delivered = record_in_order(service, monitor, 2)
    settle(failed, "failed", T)
    settle(delivered, "delivered", T)
    drain(api.queue_url)
    assert replay(api, monitor, {"status": "delivered", "since": T, "until": T})["delivery_ids"] == [delivered]
    assert (get_delivery(failed).status, get_delivery(delivered).status) == ("failed", "pending")
    assert get_delivery(delivered).expires_at is None  # pending again: nothing in flight expires


def test_a_bad_replay_request_is_refused_and_replays_nothing(api, service):  # noqa: F811
    monitor = api.create()
    delivery_id = record(service, monitor)
    settle(delivery_id, "failed", T)
    drain(api.queue_url)
    path = f"/v1/monitors/{monitor['id']}/deliveries/replay"

    error = assert_error(api.call("POST", path, {"since": T + 1, "until": T}), 400, "invalid_range")
    assert "since" in error["message"] and "until" in error["message"]
    for body in ({}, {"since": "1"}, {"since": T, "status": "pending"}, {"since": -1}, {"since": T, "extra": 1}):
        assert_error(api.call("POST", path, body), 422, "validation_failed")
    assert_error(api.call("POST", path, {"since": 0}, key=KEY_B), 404, "not_found")  # another tenant's
    assert_error(api.call("POST", "/v1/monitors/mon_" + "0" * 24 + "/deliveries/replay", {"since": 0}), 404)
    assert get_delivery(delivery_id).status == "failed" and drain(api.queue_url) == []


def test_the_routes_of_one_delivery_still_answer_beside_the_bulk_replay(api, service):  # noqa: F811
    monitor = api.create()
    delivery_id = record(service, monitor)
    settle(delivery_id, "failed")
    base = f"/v1/monitors/{monitor['id']}/deliveries"
    assert api.delivery(monitor["id"], delivery_id).body["id"] == delivery_id
    answer = api.call("POST", f"{base}/{delivery_id}/replay")
    assert (answer.status, answer.body["id"], answer.body["status"]) == (202, delivery_id, "pending")
    assert_error(api.call("GET", f"{base}/replay"), 404, "not_found")  # no delivery has that id


# --- last_delivery --------------------------------------------------------------------------------


def monitor_answers(api, monitor: dict) -> list[dict]:  # noqa: F811
    """The monitor as GET, the list and PATCH answer it."""
    one = api.call("GET", f"/v1/monitors/{monitor['id']}").body
    (listed,) = [item for item in api.all_monitors() if item["id"] == monitor["id"]]
    patched = api.call("PATCH", f"/v1/monitors/{monitor['id']}", {"name": "renamed"})
    assert patched.status == 200, patched.raw
    return [one, listed, patched.body]


def test_last_delivery_is_null_before_any_then_the_newest(api, service):  # noqa: F811
    monitor = api.create()
    assert monitor["last_delivery"] is None
    assert [answer["last_delivery"] for answer in monitor_answers(api, monitor)] == [None, None, None]

    older, newer = record_in_order(service, monitor, 2)
    settle(newer, "failed")
    created = int(get_delivery(newer).created_at) // 1000
    expected = {"id": newer, "status": "failed", "created_at": created, "last_status_code": 500}
    assert [answer["last_delivery"] for answer in monitor_answers(api, monitor)] == [expected] * 3
    rotated = api.call("POST", f"/v1/monitors/{monitor['id']}/rotate-secret")
    assert rotated.body["last_delivery"] == expected
    assert older != newer

    # A test delivery is a delivery too (a closed port: it answers nothing).
    sent = api.call("POST", f"/v1/monitors/{monitor['id']}/test").body
    (newest,) = {answer["last_delivery"]["id"] for answer in monitor_answers(api, monitor)}
    assert newest == sent["delivery_id"]
    assert monitor_answers(api, monitor)[0]["last_delivery"]["last_status_code"] is None


def test_a_page_of_monitors_shows_each_ones_newest_delivery(api, service):  # noqa: F811
    monitors = [api.create() for _ in range(3)]
    newest = {monitor["id"]: record(service, monitor, number=10 + n) for n, monitor in enumerate(monitors[:2])}
    page = {item["id"]: item for item in api.all_monitors()}
    for monitor in monitors[:2]:
        assert page[monitor["id"]]["last_delivery"]["id"] == newest[monitor["id"]]
        assert page[monitor["id"]]["last_delivery"]["status"] == "pending"
        assert page[monitor["id"]]["last_delivery"]["last_status_code"] is None
    assert page[monitors[2]["id"]]["last_delivery"] is None
