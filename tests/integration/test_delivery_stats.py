"""GET /v1/monitors/{id}/stats: what the deliver path counted per hour, through the deployed API handler
against a moto server, with deliveries posted to real webhook receivers on 127.0.0.1 by DeliveryService
(as the deliver function does), its clock injected to place attempts in an hour and to set latencies."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import pytest

from blockhook.api.auth import tenant_of_local_key
from blockhook.delivery import service as service_module
from blockhook.store import delivery_stats
from blockhook.store.deliveries import get_delivery, reset_for_replay
from tests.integration.test_delivery_service import drain, make_service, run_queue
from tests.support.api import Api, assert_error, clear_api_caches, local_api
from tests.support.builders import Block
from tests.support.receiver import WebhookReceiver, delay, status

pytestmark = pytest.mark.integration

KEY_A, KEY_B = "delivery-stats-key-a", "delivery-stats-key-b"
CHAIN_ID = 31337
CHAINS = {"chains": [{"chain_id": CHAIN_ID, "rpc_urls": ["http://127.0.0.1:9"]}]}
SENDER = "0x" + "5e" * 20
HOUR = 3600
ZERO = {"delivered": 0, "failed": 0, "attempts": 0, "failed_attempts": 0, "latency_ms": None}


@pytest.fixture(scope="module")
def api(moto_endpoint) -> Api:
    queue_url = boto3.client("sqs").create_queue(QueueName="stats-" + uuid.uuid4().hex[:8])["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(
            patch, [KEY_A, KEY_B], CHAINS, {"name": "stats", "chain_ids": [CHAIN_ID]},
            BLOCKHOOK_DELIVERY_QUEUE_URL=queue_url, BLOCKHOOK_RATE_LIMIT="100000", BLOCKHOOK_RATE_BURST="100000",
        )  # fmt: skip
    clear_api_caches()


class Clock:
    """The service's clock: the real time unless set."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        return time.time() if self.at is None else self.at


def record(service, monitor: dict, number: int) -> str:
    block = Block(CHAIN_ID, number)
    block.transaction(0, SENDER, None)
    (delivery_id,) = service.enqueue(tenant_of_local_key(KEY_A), monitor["id"], block.header, block.events)
    return delivery_id


def stats(api: Api, monitor: dict, query: str = "", key: str = KEY_A) -> dict:
    answer = api.call("GET", f"/v1/monitors/{monitor['id']}/stats{query}", key=key)
    assert answer.status == 200, answer.raw
    assert answer.body["monitor_id"] == monitor["id"]
    return answer.body


def bound(latency_ms: float) -> int:
    return delivery_stats.LATENCY_BOUNDS_MS[delivery_stats.bucket_of(latency_ms)]


def clear_of_the_hour_end(margin: float = 90) -> None:
    """Start a test that places attempts up to `margin` seconds ahead of now in this hour, not the next."""
    left = HOUR - time.time() % HOUR
    if left < margin:
        time.sleep(left + 0.5)


def test_counts_and_latency_percentiles_per_hour(api):
    clear_of_the_hour_end()
    clock = Clock()
    service = make_service(api.queue_url, (0, 0), clock=clock)
    drain(api.queue_url)
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)

        # The previous hour: a delivery whose three attempts answer 500, and that gives up.
        clock.at = time.time() - HOUR
        receiver.respond(status(500), status(500), status(500))
        failed = record(service, monitor, 1)
        assert run_queue(service, api.queue_url) == ["retrying", "retrying", "failed"]

        # This hour: deliveries delivered at known latencies (the clock at the attempt, from the
        # creation); one of them after a 500.
        latencies = {}
        for number, (seconds, answers) in enumerate([(0.3, []), (2, []), (5, [status(500)]), (40, [])], start=2):
            delivery_id = record(service, monitor, number)
            created = int(get_delivery(delivery_id).created_at)
            clock.at = created / 1000 + seconds
            receiver.respond(*answers)
            assert run_queue(service, api.queue_url)[-1] == "delivered"
            attempt = get_delivery(delivery_id).attempt_log[-1]
            latencies[delivery_id] = clock.at * 1000 + int(attempt.latency_ms) - created
        # A delivered delivery replayed: delivered again, and its latency is its first delivery's.
        clock.at = None
        replayed = next(iter(latencies))
        reset_for_replay(get_delivery(replayed))
        assert service.attempt(replayed) == "delivered"
        # A test delivery the endpoint refuses: an attempt that failed, but no delivery.
        receiver.respond(status(503))
        assert not service.send_test(get_monitor_model(monitor)).ok
    assert get_delivery(failed).status == "failed"

    now_hour = int(time.time()) // HOUR * HOUR
    window = stats(api, monitor, "?hours=3")
    assert [hour["hour"] for hour in window["hours"]] == [now_hour - 2 * HOUR, now_hour - HOUR, now_hour]
    assert window["hours"][0] == {"hour": now_hour - 2 * HOUR, **ZERO}
    assert window["hours"][1] == {
        "hour": now_hour - HOUR, "delivered": 0, "failed": 1, "attempts": 3, "failed_attempts": 3, "latency_ms": None,
    }  # fmt: skip
    ordered = sorted(latencies.values())  # 300 ms, 2 s, 5 s, 40 s and a few ms each
    expected = {"p50": bound(ordered[1]), "p90": bound(ordered[3]), "p99": bound(ordered[3])}
    assert expected == {"p50": 2919, "p90": 49879, "p99": 49879}  # the buckets these latencies fall in
    assert window["hours"][2] == {
        "hour": now_hour,
        "delivered": 5,  # four deliveries, one of them twice
        "failed": 0,
        "attempts": 4 + 1 + 1 + 1,  # one each, the 500 before a 200, the replay's, the test's
        "failed_attempts": 2,  # the 500 and the test's 503
        "latency_ms": expected,
    }
    assert window["latency_ms"] == {**expected, "count": 4}

    # The default window is 24 hours, zeros included, the current one last.
    day = stats(api, monitor)
    assert len(day["hours"]) == 24 and day["hours"][-3:] == window["hours"]
    assert all(hour == {"hour": hour["hour"], **ZERO} for hour in day["hours"][:-2])
    assert [hour["hour"] for hour in day["hours"]] == [now_hour - (23 - n) * HOUR for n in range(24)]
    assert len(stats(api, monitor, "?hours=168")["hours"]) == 168
    assert stats(api, monitor, "?hours=1")["hours"] == window["hours"][-1:]


def get_monitor_model(monitor: dict):
    from blockhook.store.monitors import get_monitor

    return get_monitor(tenant_of_local_key(KEY_A), monitor["id"])


def test_an_attempt_a_replay_superseded_counts_as_an_attempt_and_settles_nothing(api):
    clear_of_the_hour_end()
    service = make_service(api.queue_url, ())
    drain(api.queue_url)
    # The attempt in flight is the schedule's last and fails; the replay's answers 200.
    with WebhookReceiver(delay(1.5, status(500))) as receiver:
        monitor = api.create(webhook_url=receiver.url)
        delivery_id = record(service, monitor, 1)
        drain(api.queue_url)
        outcome: list[str] = []
        in_flight = threading.Thread(target=lambda: outcome.append(service.attempt(delivery_id)))
        in_flight.start()
        receiver.wait_for()
        reset_for_replay(get_delivery(delivery_id))
        in_flight.join(timeout=30)
        assert outcome == ["replayed"]
        assert service.attempt(delivery_id) == "delivered"

    (hour,) = stats(api, monitor, "?hours=1")["hours"]
    assert {name: hour[name] for name in ("delivered", "failed", "attempts", "failed_attempts")} == {
        "delivered": 1, "failed": 0, "attempts": 2, "failed_attempts": 1,
    }  # fmt: skip
    assert hour["latency_ms"] is not None


def test_a_stats_write_that_fails_never_fails_the_delivery(api, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("stats table unavailable")

    monkeypatch.setattr(service_module, "record_attempt_stats", refuse)
    service = make_service(api.queue_url, (0,))
    drain(api.queue_url)
    with WebhookReceiver() as receiver:
        monitor = api.create(webhook_url=receiver.url)
        delivery_id = record(service, monitor, 1)
        assert run_queue(service, api.queue_url) == ["delivered"]
    assert len(receiver.requests) == 1  # posted once: the failed count made no retry
    assert get_delivery(delivery_id).status == "delivered"
    assert all(hour == {"hour": hour["hour"], **ZERO} for hour in stats(api, monitor)["hours"])


def test_a_monitor_without_deliveries_has_every_hour_at_zero(api):
    monitor = api.create()
    window = stats(api, monitor, "?hours=5")
    assert len(window["hours"]) == 5 and window["latency_ms"] is None
    assert all(hour == {"hour": hour["hour"], **ZERO} for hour in window["hours"])


@pytest.mark.parametrize("hours", ["0", "169", "x", "-1", "2.5", "", "1e2"])
def test_a_window_out_of_range_answers_400(api, hours):
    monitor = api.create()
    error = assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/stats?hours={hours}"), 400, "invalid_hours")
    assert "1 to 168" in error["message"]


def test_another_tenants_monitor_answers_404(api):
    monitor = api.create()
    assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/stats", key=KEY_B), 404, "not_found")
    assert_error(api.call("GET", "/v1/monitors/mon_" + "0" * 24 + "/stats"), 404, "not_found")
    assert_error(api.call("GET", f"/v1/monitors/{monitor['id']}/stats", key=None), 401)
