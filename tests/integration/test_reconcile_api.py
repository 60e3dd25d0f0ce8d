"""POST and GET /v1/monitors/{id}/reconcile through the deployed API handler, against a moto server:
the range a reconcile may read (the same bounds as a backfill), the job it starts and how it shows,
and tenant isolation. What a reconcile finds on a real chain: tests/e2e/test_reconcile.py."""

from __future__ import annotations

import pytest

from tests.integration.test_api_routes import BACKFILL_CHAIN, KEY_B, api, ingested  # noqa: F401
from tests.support.api import assert_error

pytestmark = pytest.mark.integration


def reconcile_path(monitor: dict) -> str:
    return f"/v1/monitors/{monitor['id']}/reconcile"


def test_a_reconcile_starts_a_job_that_the_monitor_and_its_get_show(api):  # noqa: F811
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)
    monitor = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    path = reconcile_path(monitor)
    assert_error(api.call("GET", path), 404, "not_found")  # none yet
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["reconcile"] is None

    answer = api.call("POST", path, {"from_block": 900, "to_block": 1_000, "heal": True})
    assert answer.status == 202, answer.raw
    job = answer.body
    assert job["id"].startswith("rc_")
    assert (job["chain_id"], job["from_block"], job["to_block"], job["heal"]) == (BACKFILL_CHAIN, 900, 1_000, True)
    assert (job["status"], job["next_block"], job["checked_through"]) == ("queued", 900, 899)
    assert (job["missing"], job["extra"], job["missing_count"], job["extra_count"]) == ([], [], 0, 0)

    assert api.call("GET", path).body == job
    shown = api.call("GET", f"/v1/monitors/{monitor['id']}").body["reconcile"]
    assert shown == {key: value for key, value in job.items() if key not in ("missing", "extra")}

    # One at a time per monitor; heal is off unless asked for.
    assert_error(api.call("POST", path, {"from_block": 900, "to_block": 901}), 409, "reconcile_running")
    other = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    plain = api.call("POST", reconcile_path(other), {"from_block": 1_000, "to_block": 1_000})
    assert plain.status == 202 and plain.body["heal"] is False


def test_a_reconcile_reads_only_a_bounded_range_of_blocks_the_confirmations_cover(api):  # noqa: F811
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)
    monitor = api.create(chain_ids=[BACKFILL_CHAIN])  # the chain's default: 5 confirmations
    path = reconcile_path(monitor)
    error = assert_error(api.call("POST", path, {"from_block": 900, "to_block": 996}), 422, "unconfirmed_blocks")
    assert error["details"] == [{"last_block": 995, "head": 1_000, "confirmations": 5}]
    assert_error(api.call("POST", path, {"from_block": 10, "to_block": 9}), 422, "invalid_range")
    error = assert_error(api.call("POST", path, {"from_block": 0, "to_block": 100_000}), 422, "range_too_large")
    assert "100000 blocks a reconcile" in error["message"]
    assert_error(api.call("POST", path, {"from_block": 0, "to_block": 1, "chain_id": 1}), 422, "unknown_chain")
    for body in ({"from_block": -1, "to_block": 1}, {"from_block": 0}, {"from_block": 0, "to_block": 1, "heal": "yes"}):
        assert_error(api.call("POST", path, body), 422, "validation_failed")
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["reconcile"] is None  # nothing was started

    ingested(BACKFILL_CHAIN, last=1_990, head=2_000)  # ingest is 10 blocks behind the head
    at_once = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    assert_error(api.call("POST", reconcile_path(at_once), {"from_block": 1_900, "to_block": 1_995}), 422, "beyond_head")
    answer = api.call("POST", path, {"from_block": 1_896, "to_block": 1_985})
    assert answer.status == 202, answer.raw

    ingested(BACKFILL_CHAIN, last=200_000, head=200_000)
    widest = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    too_wide = {"from_block": 100_000, "to_block": 200_000}
    assert_error(api.call("POST", reconcile_path(widest), too_wide), 422, "range_too_large")
    assert api.call("POST", reconcile_path(widest), {"from_block": 100_001, "to_block": 200_000}).status == 202


def test_another_tenants_reconcile_answers_404(api):  # noqa: F811
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)
    monitor = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    path = reconcile_path(monitor)
    assert_error(api.call("POST", path, {"from_block": 990, "to_block": 995}, key=KEY_B), 404, "not_found")
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["reconcile"] is None  # nothing started for B
    assert api.call("POST", path, {"from_block": 990, "to_block": 995}).status == 202
    assert_error(api.call("GET", path, key=KEY_B), 404, "not_found")
    assert api.call("GET", path).status == 200
    assert_error(api.call("GET", "/v1/monitors/mon_000000000000000000000000/reconcile"), 404, "not_found")
