"""The REST API of CONTRACT section 2, through the deployed Lambda handler, against a moto server.

Events are the REST proxy events API Gateway sends (built by the local API Gateway adapter);
the handler is functions/api/handler.py itself, loaded as the local stack loads it."""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any
from urllib.parse import quote

import pytest
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Api, assert_error, clear_api_caches, local_api

KEY_A, KEY_B = "key-a", "key-b"
NO_TRACES, TRACED, AUTO_TRACES = 424201, 424202, 424203  # chains of these tests alone
# Chains only the backfill tests record a head for (the state table is shared by the session).
BACKFILL_CHAIN, HEADLESS_CHAIN = 7_000_001, 7_000_002
CHAINS = {
    "chains": [
        {"chain_id": 31337, "rpc_urls": ["http://127.0.0.1:9"]},
        {"chain_id": 1, "rpc_urls": ["http://127.0.0.1:9"]},
        {"chain_id": NO_TRACES, "rpc_urls": ["http://127.0.0.1:9"], "traces": "off"},
        {"chain_id": TRACED, "rpc_urls": ["http://127.0.0.1:9"], "traces": "call_tracer"},
        {"chain_id": AUTO_TRACES, "rpc_urls": ["http://127.0.0.1:9"]},
        {"chain_id": BACKFILL_CHAIN, "rpc_urls": ["http://127.0.0.1:9"], "confirmations": 5},
        {"chain_id": HEADLESS_CHAIN, "rpc_urls": ["http://127.0.0.1:9"]},
    ]
}
ERROR_STATUSES = {400, 401, 403, 404, 409, 413, 422, 429}
WEBHOOK = "http://127.0.0.1:8000/hooks/blockhook"
TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"


def new_address(rng: random.Random) -> str:
    return "0x" + rng.randbytes(20).hex()


def checksummed_with_letters(rng: random.Random) -> str:
    """An EIP-55 address whose digits include both cases, so that its case carries a checksum."""
    while True:
        address = to_checksum_address(new_address(rng))
        digits = address[2:]
        if digits != digits.lower() and digits != digits.upper():
            return address


def with_one_case_flipped(address: str) -> str:
    digits = address[2:]
    for position, char in enumerate(digits):
        if char.isalpha():
            flipped = digits[:position] + char.swapcase() + digits[position + 1 :]
            if flipped != flipped.lower() and flipped != flipped.upper():
                return "0x" + flipped
    raise AssertionError(f"no letter of {address} can be flipped into a mixed-case address")


@pytest.fixture(scope="module")
def api(moto_endpoint) -> Api:
    import uuid

    import boto3

    delivery_queue_url = boto3.client("sqs").create_queue(QueueName="api-" + uuid.uuid4().hex[:8])["QueueUrl"]
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(
            patch,
            [KEY_A, KEY_B],
            CHAINS,
            {"name": "hot wallets", "webhook_url": WEBHOOK},
            # These tests call faster than a tenant's rate limit allows; test_api_limits.py tests the limit.
            BLOCKHOOK_RATE_LIMIT="1000000",
            # A new webhook_url sends the deliveries waiting for the monitor: the API queues them.
            BLOCKHOOK_DELIVERY_QUEUE_URL=delivery_queue_url,
        )
    clear_api_caches()


@pytest.fixture
def rng(request) -> random.Random:
    return random.Random(request.node.name)


# --- health and authentication ---------------------------------------------------------------


def test_health_needs_no_key(api):
    answer = api.call("GET", "/v1/health", key=None)
    assert (answer.status, answer.body) == (200, {"status": "ok"})


@pytest.mark.parametrize("key", [None, "", "key-c", "key-a ", "KEY-A"])
def test_a_missing_or_unknown_key_answers_401(api, key):
    assert_error(api.call("GET", "/v1/monitors", key=key), 401, "unauthorized")


def test_the_key_header_name_is_case_insensitive(api):
    answer = api.call("GET", "/v1/monitors?limit=1", key=None, headers={"X-API-Key": KEY_A})
    assert answer.status == 200, answer.raw


def test_401_comes_before_any_look_at_the_request(api):
    assert_error(api.call("POST", "/v1/monitors", {"bogus": True}, key=None), 401)
    assert_error(api.call("POST", "/v1/monitors", raw=b"{not json", key=None), 401)
    assert_error(
        api.call("POST", "/v1/monitors", raw=b"x=1", key="wrong", headers={"content-type": "text/plain"}), 401
    )
    assert_error(api.call("GET", "/v1/monitors?limit=zero", key=None), 401)
    assert_error(api.call("GET", "/v1/monitors/mon_000000000000000000000000", key="wrong"), 401)


# --- create, read, secret --------------------------------------------------------------------


def test_create_answers_201_with_the_secret_and_get_never_shows_it(api, rng):
    contract = checksummed_with_letters(rng)
    created = api.create(
        name="exchange hot wallets",
        chain_ids=[31337, 1, 31337],
        filters={
            "kinds": ["native_transfer", "erc20_transfer"],
            "contracts": [contract],
            "event_signatures": [TRANSFER],
        },
        confirmations=0,
        active=True,
    )
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 20
    assert created["id"].startswith("mon_")
    assert created["chain_ids"] == [1, 31337]
    assert created["filters"] == {
        "address_scope": "all",
        "kinds": ["native_transfer", "erc20_transfer"],
        "contracts": [contract.lower()],
        "event_signatures": [TRANSFER],
    }
    assert created["address_count"] == 0
    assert created["condition"] is None and created["confirmations"] == 0 and created["active"] is True

    fetched = api.call("GET", f"/v1/monitors/{created['id']}")
    assert fetched.status == 200
    assert "secret" not in fetched.body and created["secret"] not in fetched.raw
    # One monitor also tells where its deliveries stand on each chain: nothing sent yet.
    chains = fetched.body.pop("chains")
    assert [(c["chain_id"], c["last_sequence"]) for c in chains] == [(1, 0), (31337, 0)]
    assert fetched.body == {name: value for name, value in created.items() if name != "secret"}
    listed = [item for item in api.all_monitors() if item["id"] == created["id"]]
    assert listed == [fetched.body]


def test_create_with_defaults(api):
    created = api.create()
    assert created["filters"]["kinds"] == [
        "transaction",
        "native_transfer",
        "withdrawal",
        "erc20_transfer",
        "erc721_transfer",
        "erc1155_transfer",
    ]
    assert created["active"] is True and created["confirmations"] is None and created["condition"] is None


def test_create_with_addresses_counts_them(api, rng):
    plain, labelled = new_address(rng), new_address(rng)
    created = api.create(filters={"addresses": [plain, {"address": labelled, "label": "customer-42"}, plain]})
    assert created["address_count"] == 2
    listed = api.all_addresses(created["id"])
    assert sorted(listed, key=lambda item: item["address"]) == sorted(
        [{"address": plain, "label": None}, {"address": labelled, "label": "customer-42"}],
        key=lambda item: item["address"],
    )


# --- list paging -----------------------------------------------------------------------------


def _delete_all(api: Api, key: str) -> None:
    for monitor in api.all_monitors(key=key):
        assert api.call("DELETE", f"/v1/monitors/{monitor['id']}", key=key).status == 204


def test_list_pages_with_limit_and_next_cursor(api):
    _delete_all(api, KEY_A)
    created = [api.create(name=f"m{number}")["id"] for number in range(3)]

    first = api.call("GET", "/v1/monitors?limit=2")
    assert first.status == 200
    assert len(first.body["items"]) == 2 and isinstance(first.body["next_cursor"], str)
    second = api.call("GET", f"/v1/monitors?limit=2&cursor={quote(first.body['next_cursor'])}")
    assert second.status == 200
    assert len(second.body["items"]) == 1 and second.body["next_cursor"] is None
    seen = [item["id"] for item in first.body["items"] + second.body["items"]]
    assert sorted(seen) == sorted(created)

    # A page that ends exactly at the last monitor says so: no cursor to an empty page.
    exact = api.call("GET", "/v1/monitors?limit=3")
    assert len(exact.body["items"]) == 3 and exact.body["next_cursor"] is None
    assert [item["id"] for item in api.all_monitors(limit=1)] == seen
    default = api.call("GET", "/v1/monitors")
    assert len(default.body["items"]) == 3 and default.body["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "two", ""])
def test_a_limit_out_of_range_answers_422(api, limit):
    assert_error(api.call("GET", f"/v1/monitors?limit={limit}"), 422, "validation_failed")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "e30",  # {}
        "eyJhIjoxfQ",  # {"a": 1}
        "W10",  # []
        "bnVsbA",  # null
        "%00%01",
        "x" * 2049,
    ],
)
def test_an_invalid_cursor_answers_400(api, cursor):
    assert_error(api.call("GET", f"/v1/monitors?limit=1&cursor={cursor}"), 400, "invalid_cursor")


def test_a_cursor_of_well_formed_but_foreign_keys_answers_400(api):
    import base64

    def cursor(key: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")

    bad_keys = [
        {"tenant_id": {"S": "tenant_other"}, "monitor_id": {"S": "mon_1"}},
        {"tenant_id": {"N": "1"}, "monitor_id": {"S": "mon_1"}},
        {"monitor_id": {"S": "mon_1"}},
        {"tenant_id": {"S": "x"}, "monitor_id": {"S": "mon_1"}, "extra": {"S": "y"}},
        {"tenant_id": {"S": "x"}, "monitor_id": {"B": "AAAA"}},
        {"tenant_id": {"S": "x"}, "monitor_id": {"S": ""}},
    ]
    for key in bad_keys:
        assert_error(api.call("GET", f"/v1/monitors?cursor={cursor(key)}"), 400, "invalid_cursor")


def test_another_tenants_cursor_answers_400(api):
    for number in range(2):
        api.create(name=f"paging {number}")
    page = api.call("GET", "/v1/monitors?limit=1")
    assert page.body["next_cursor"]
    assert_error(
        api.call("GET", f"/v1/monitors?limit=1&cursor={quote(page.body['next_cursor'])}", key=KEY_B),
        400,
        "invalid_cursor",
    )


# --- PATCH -----------------------------------------------------------------------------------


def test_patch_changes_name_webhook_url_and_active(api):
    created = api.create(name="before")
    path = f"/v1/monitors/{created['id']}"
    answer = api.call(
        "PATCH", path, {"name": "after", "webhook_url": "https://example.com/h", "active": False}
    )
    assert answer.status == 200, answer.raw
    assert "secret" not in answer.body
    assert (answer.body["name"], answer.body["webhook_url"], answer.body["active"]) == (
        "after",
        "https://example.com/h",
        False,
    )
    assert answer.body["updated_at"] >= created["updated_at"]
    fetched = api.call("GET", path).body
    assert fetched.pop("chains")[0]["chain_id"] == created["chain_ids"][0]  # GET alone tells where deliveries stand
    assert fetched == answer.body
    # Fields not named stay as they were.
    assert api.call("PATCH", path, {"active": True}).body["name"] == "after"
    unchanged = api.call("PATCH", path, {})
    assert unchanged.status == 200 and unchanged.body["name"] == "after" and unchanged.body["active"] is True


def test_patch_filters_changes_only_the_filters_it_names(api, rng):
    contract = new_address(rng)
    created = api.create(
        filters={"kinds": ["erc20_transfer"], "contracts": [contract], "event_signatures": [TRANSFER]}
    )
    answer = api.call("PATCH", f"/v1/monitors/{created['id']}", {"filters": {"kinds": ["native_transfer"]}})
    assert answer.status == 200, answer.raw
    assert answer.body["filters"] == {
        "address_scope": "all",
        "kinds": ["native_transfer"],
        "contracts": [contract],
        "event_signatures": [TRANSFER],
    }
    cleared = api.call("PATCH", f"/v1/monitors/{created['id']}", {"filters": {"contracts": []}})
    assert cleared.body["filters"]["contracts"] == [] and cleared.body["filters"]["kinds"] == [
        "native_transfer"
    ]


def test_patch_filters_addresses_replaces_the_set(api, rng):
    keep, drop, new = new_address(rng), new_address(rng), checksummed_with_letters(rng)
    created = api.create(filters={"addresses": [keep, {"address": drop, "label": "old"}]})
    assert created["address_count"] == 2
    answer = api.call(
        "PATCH",
        f"/v1/monitors/{created['id']}",
        {"filters": {"addresses": [{"address": keep, "label": "kept"}, new]}},
    )
    assert answer.status == 200, answer.raw
    assert answer.body["address_count"] == 2
    assert answer.body["filters"]["kinds"] == created["filters"]["kinds"]
    assert {(item["address"], item["label"]) for item in api.all_addresses(created["id"])} == {
        (keep, "kept"),
        (new.lower(), None),
    }
    emptied = api.call("PATCH", f"/v1/monitors/{created['id']}", {"filters": {"addresses": []}})
    assert emptied.body["address_count"] == 0 and api.all_addresses(created["id"]) == []


def test_the_address_scope_is_set_at_creation_and_changed_only_by_patch(api, rng):
    everyone = api.create()
    also_everyone = api.create(filters={"addresses": None})
    empty_list = api.create(filters={"addresses": []})
    listed = api.create(filters={"addresses": [new_address(rng)]})
    assert [m["filters"]["address_scope"] for m in (everyone, also_everyone, empty_list, listed)] == [
        "all", "all", "list", "list",
    ]  # fmt: skip

    # Removing the last address leaves a list monitor with an empty list (it matches nothing).
    path = f"/v1/monitors/{listed['id']}"
    only = api.all_addresses(listed["id"])[0]["address"]
    assert api.call("POST", f"{path}/addresses", {"remove": [only]}).body["address_count"] == 0
    fetched = api.call("GET", path).body
    assert (fetched["filters"]["address_scope"], fetched["address_count"]) == ("list", 0)

    # PATCH of other filters leaves the scope as it is; of addresses, sets it.
    assert api.call("PATCH", path, {"filters": {"kinds": ["transaction"]}}).body["filters"]["address_scope"] == "list"
    widened = api.call("PATCH", path, {"filters": {"addresses": None}})
    assert widened.status == 200, widened.raw
    assert (widened.body["filters"]["address_scope"], widened.body["address_count"]) == ("all", 0)
    assert widened.body["filters"]["kinds"] == ["transaction"]
    address = new_address(rng)
    narrowed = api.call("PATCH", path, {"filters": {"addresses": [{"address": address, "label": "x"}]}})
    assert (narrowed.body["filters"]["address_scope"], narrowed.body["address_count"]) == ("list", 1)
    assert api.all_addresses(listed["id"]) == [{"address": address, "label": "x"}]
    emptied = api.call("PATCH", f"/v1/monitors/{everyone['id']}", {"filters": {"addresses": []}})
    assert (emptied.body["filters"]["address_scope"], emptied.body["address_count"]) == ("list", 0)


def test_a_patch_of_addresses_and_other_fields_changes_them_all(api, rng):
    created = api.create(filters={"addresses": [new_address(rng)]})
    address = new_address(rng)
    body = {"name": "renamed", "confirmations": 2, "filters": {"kinds": ["transaction"], "addresses": [address]}}
    answer = api.call("PATCH", f"/v1/monitors/{created['id']}", body)
    assert answer.status == 200, answer.raw
    assert (answer.body["name"], answer.body["confirmations"], answer.body["filters"]["kinds"]) == (
        "renamed", 2, ["transaction"],
    )  # fmt: skip
    assert answer.body["address_count"] == 1 and answer.body["updated_at"] >= created["updated_at"]
    fetched = api.call("GET", f"/v1/monitors/{created['id']}").body
    fetched.pop("chains")  # GET alone tells where the monitor's deliveries stand
    assert fetched == answer.body
    assert api.all_addresses(created["id"]) == [{"address": address, "label": None}]


def test_a_list_set_to_null_by_patch_empties_it(api, rng):
    created = api.create(filters={"addresses": [new_address(rng), new_address(rng)]})
    answer = api.call("PATCH", f"/v1/monitors/{created['id']}", {"filters": {"addresses": None}})
    assert (answer.body["filters"]["address_scope"], answer.body["address_count"]) == ("all", 0)
    assert api.all_addresses(created["id"]) == []


def test_adding_addresses_to_a_monitor_of_every_party_answers_409(api, rng):
    monitor = api.create()
    path = f"/v1/monitors/{monitor['id']}/addresses"
    error = assert_error(api.call("POST", path, {"add": [new_address(rng)]}), 409, "watches_every_party")
    assert "filters.addresses" in error["message"]
    fetched = api.call("GET", f"/v1/monitors/{monitor['id']}").body
    assert (fetched["filters"]["address_scope"], fetched["address_count"]) == ("all", 0)
    assert api.all_addresses(monitor["id"]) == []
    assert api.call("POST", path, {"remove": [new_address(rng)]}).body == {"added": 0, "removed": 0, "address_count": 0}


def test_an_address_change_while_another_is_written_answers_409(api, rng, monkeypatch):
    from blockhook.store import monitors as monitor_store
    from blockhook.store.models import MonitorModel

    monitor = api.create(filters={"addresses": []})
    item = next(m for m in MonitorModel.scan(MonitorModel.monitor_id == monitor["id"]))
    item.update(actions=[MonitorModel.list_pending.set(1), MonitorModel.list_pending_at.set(int(time.time()))])
    monkeypatch.setattr(monitor_store, "CHANGE_WAIT_SECONDS", 0.2)
    path = f"/v1/monitors/{monitor['id']}/addresses"
    assert_error(api.call("POST", path, {"add": [new_address(rng)]}), 409, "address_change_in_progress")
    assert_error(
        api.call("PATCH", f"/v1/monitors/{monitor['id']}", {"filters": {"addresses": []}}), 409, "address_change_in_progress"
    )
    item.update(actions=[MonitorModel.list_pending.remove(), MonitorModel.list_pending_at.remove()])
    assert api.call("POST", path, {"add": [new_address(rng)]}).body["address_count"] == 1


def test_an_address_both_added_and_removed_in_one_call_stays_watched(api, rng):
    monitor = api.create(filters={"addresses": [{"address": (kept := new_address(rng)), "label": "k"}]})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    assert api.call("POST", path, {"add": [kept], "remove": [kept]}).body == {"added": 0, "removed": 0, "address_count": 1}
    assert api.all_addresses(monitor["id"]) == [{"address": kept, "label": "k"}]


def test_patch_refuses_bad_fields(api):
    path = f"/v1/monitors/{api.create(name='stays')['id']}"
    for body in (
        {"name": None},
        {"name": ""},
        {"active": None},
        {"active": "maybe"},
        {"webhook_url": None},
        {"filters": None},
        {"filters": {"kinds": []}},
        {"filters": {"kinds": ["everything"]}},
        {"filters": {"bogus": 1}},
        {"chain_ids": [1]},  # not changeable
        {"secret": "whsec_mine"},
        {"bogus": 1},
    ):
        assert_error(api.call("PATCH", path, body), 422)
    assert_error(api.call("PATCH", path, {"webhook_url": "ftp://example.com/h"}), 422, "invalid_webhook_url")
    assert_error(api.call("PATCH", path, {"condition": "event.value >"}), 422, "invalid_condition")
    assert_error(api.call("PATCH", path, {"confirmations": 1001}), 422, "validation_failed")
    fetched = api.call("GET", path).body
    assert fetched["name"] == "stays" and fetched["webhook_url"] == WEBHOOK and fetched["active"] is True


def test_patch_may_clear_condition_and_confirmations(api):
    created = api.create(confirmations=0)
    answer = api.call("PATCH", f"/v1/monitors/{created['id']}", {"condition": None, "confirmations": None})
    assert answer.status == 200, answer.raw
    assert answer.body["condition"] is None and answer.body["confirmations"] is None


# --- DELETE ----------------------------------------------------------------------------------


def test_delete_answers_204_then_404(api, rng):
    address = new_address(rng)
    created = api.create(filters={"addresses": [address]})
    path = f"/v1/monitors/{created['id']}"
    deleted = api.call("DELETE", path)
    assert deleted.status == 204 and deleted.raw == ""
    assert_error(api.call("GET", path), 404, "not_found")
    assert_error(api.call("DELETE", path), 404, "not_found")
    assert_error(api.call("PATCH", path, {"name": "back"}), 404, "not_found")
    assert_error(api.call("POST", path + "/addresses", {"add": [address]}), 404, "not_found")
    assert_error(api.call("GET", path + "/addresses"), 404, "not_found")
    assert created["id"] not in {item["id"] for item in api.all_monitors()}


# --- tenant isolation ------------------------------------------------------------------------


def test_another_tenant_gets_404_for_everything(api, rng):
    address = new_address(rng)
    created = api.create(filters={"addresses": [address]})
    path = f"/v1/monitors/{created['id']}"
    assert_error(api.call("GET", path, key=KEY_B), 404, "not_found")
    assert_error(api.call("PATCH", path, {"name": "taken"}, key=KEY_B), 404, "not_found")
    assert_error(api.call("DELETE", path, key=KEY_B), 404, "not_found")
    assert_error(
        api.call("POST", path + "/addresses", {"add": [new_address(rng)], "remove": [address]}, key=KEY_B),
        404,
        "not_found",
    )
    assert_error(api.call("GET", path + "/addresses", key=KEY_B), 404, "not_found")
    assert created["id"] not in {item["id"] for item in api.all_monitors(key=KEY_B)}

    fetched = api.call("GET", path)
    assert fetched.status == 200 and fetched.body["name"] == created["name"]
    assert fetched.body["address_count"] == 1
    assert api.all_addresses(created["id"]) == [{"address": address, "label": None}]


def test_each_tenant_lists_its_own_monitors(api):
    mine = api.create(key=KEY_B, name="b's")
    assert mine["id"] in {item["id"] for item in api.all_monitors(key=KEY_B)}
    assert mine["id"] not in {item["id"] for item in api.all_monitors(key=KEY_A)}


# --- addresses -------------------------------------------------------------------------------


def test_add_plain_labelled_and_checksummed_addresses(api, rng):
    monitor = api.create(filters={"addresses": []})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    plain, labelled, checksummed = new_address(rng), new_address(rng), checksummed_with_letters(rng)
    upper = "0x" + new_address(rng)[2:].upper()
    answer = api.call(
        "POST", path, {"add": [plain, {"address": labelled, "label": "customer-42"}, checksummed, upper]}
    )
    assert answer.status == 200, answer.raw
    assert answer.body == {"added": 4, "removed": 0, "address_count": 4}
    listed = api.all_addresses(monitor["id"])
    assert listed == sorted(
        [
            {"address": plain, "label": None},
            {"address": labelled, "label": "customer-42"},
            {"address": checksummed.lower(), "label": None},
            {"address": upper.lower(), "label": None},
        ],
        key=lambda item: item["address"],
    )
    assert all(item["address"] == item["address"].lower() for item in listed)
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["address_count"] == 4

    # Adding a watched address again counts nothing and changes its label.
    again = api.call(
        "POST", path, {"add": [{"address": plain.upper().replace("0X", "0x"), "label": "now labelled"}]}
    )
    assert again.body == {"added": 0, "removed": 0, "address_count": 4}
    assert {"address": plain, "label": "now labelled"} in api.all_addresses(monitor["id"])
    # Without a label it keeps the one it has.
    kept = api.call("POST", path, {"add": [plain, labelled]})
    assert kept.body == {"added": 0, "removed": 0, "address_count": 4}
    assert {"address": plain, "label": "now labelled"} in api.all_addresses(monitor["id"])
    assert {"address": labelled, "label": "customer-42"} in api.all_addresses(monitor["id"])


def test_the_address_list_with_a_prefix_pages_through_the_matching_addresses_only(api, rng):
    matching = sorted("0xab" + new_address(rng)[4:] for _ in range(7))
    others = ["0xaa" + "f" * 38, "0xac" + "0" * 38, "0x0b" + "ab" * 19]
    removed = matching.pop(3)
    monitor = api.create(filters={"addresses": [*matching, removed, *others]})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    assert api.call("POST", path, {"remove": [removed]}).body["address_count"] == len(matching) + len(others)

    # Any case, over pages of 2; the removed address stays hidden.
    for prefix in ("0xab", "0xAB"):
        listed = api.walk(path, f"prefix={prefix}", limit=2)
        assert [item["address"] for item in listed] == matching
    whole = "0x" + matching[-1][2:].upper()  # a whole address is a prefix too
    assert [item["address"] for item in api.walk(path, f"prefix={whole}")] == [matching[-1]]
    assert api.walk(path, "prefix=0xad") == []
    assert len(api.walk(path, "prefix=0x", limit=3)) == len(matching) + len(others)

    for bad in ("ab", "0xg", "0X", "0x" + "a" * 41, "0xab%20", "%200xab"):
        error = assert_error(api.call("GET", f"{path}?prefix={bad}"), 400, "invalid_prefix")
        assert "0x" in error["message"]
    # A cursor goes on with the prefix it was given for only.
    first = api.call("GET", f"{path}?prefix=0xab&limit=2").body
    assert_error(api.call("GET", f"{path}?prefix=0xac&cursor={quote(first['next_cursor'])}"), 400, "invalid_cursor")


def test_add_and_remove_in_one_call(api, rng):
    monitor = api.create(filters={"addresses": []})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    first, second, third, never = (new_address(rng) for _ in range(4))
    assert api.call("POST", path, {"add": [first, second]}).body == {
        "added": 2,
        "removed": 0,
        "address_count": 2,
    }
    answer = api.call("POST", path, {"add": [third], "remove": [first, never, first]})
    assert answer.body == {"added": 1, "removed": 1, "address_count": 2}
    assert [item["address"] for item in api.all_addresses(monitor["id"])] == sorted([second, third])
    assert api.call("POST", path, {}).body == {"added": 0, "removed": 0, "address_count": 2}


def test_addresses_are_listed_in_pages_with_labels(api, rng):
    monitor = api.create(filters={"addresses": []})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    added = {new_address(rng): f"label-{number}" if number % 2 else None for number in range(7)}
    add = [{"address": address, "label": label} if label else address for address, label in added.items()]
    assert api.call("POST", path, {"add": add}).body["address_count"] == 7

    pages, cursor = [], None
    while True:
        answer = api.call("GET", f"{path}?limit=3" + (f"&cursor={quote(cursor)}" if cursor else ""))
        assert answer.status == 200, answer.raw
        pages.append(answer.body["items"])
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [item for page in pages for item in page]
    assert listed == [{"address": address, "label": added[address]} for address in sorted(added)]
    assert api.all_addresses(monitor["id"], limit=7) == listed
    assert_error(api.call("GET", f"{path}?limit=1001"), 422)
    assert_error(api.call("GET", f"{path}?cursor=e30"), 400, "invalid_cursor")


def test_an_address_cursor_of_another_monitor_answers_400(api, rng):
    first, second = api.create(filters={"addresses": []}), api.create(filters={"addresses": []})
    api.call("POST", f"/v1/monitors/{first['id']}/addresses", {"add": [new_address(rng) for _ in range(3)]})
    cursor = api.call("GET", f"/v1/monitors/{first['id']}/addresses?limit=1").body["next_cursor"]
    assert cursor
    assert_error(
        api.call("GET", f"/v1/monitors/{second['id']}/addresses?cursor={quote(cursor)}"),
        400,
        "invalid_cursor",
    )


@pytest.mark.parametrize(
    "bad",
    [
        "0x" + "g" * 40,
        "0x" + "a" * 39,
        "0x" + "a" * 41,
        "a" * 40,
        "0x" + "a" * 40 + "\n",
        " 0x" + "a" * 40,
        "",
        42,
        None,
        {"address": "0x1234"},
        {"address": "0x" + "a" * 40, "label": "x" * 201},
        {"address": "0x" + "a" * 40, "tag": "x"},
        {"label": "no address"},
    ],
)
def test_a_malformed_address_answers_422(api, bad):
    monitor = api.create()
    path = f"/v1/monitors/{monitor['id']}/addresses"
    assert_error(api.call("POST", path, {"add": [bad]}), 422, "validation_failed")
    if not isinstance(bad, dict):
        assert_error(api.call("POST", path, {"remove": [bad]}), 422, "validation_failed")
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["address_count"] == 0


def test_a_mixed_case_address_with_a_bad_checksum_answers_422(api, rng):
    monitor = api.create()
    bad = with_one_case_flipped(checksummed_with_letters(rng))
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", {"add": [bad]})
    error = assert_error(answer, 422, "validation_failed")
    assert any("checksum" in detail["message"] for detail in error["details"])
    assert_error(
        api.call(
            "POST",
            "/v1/monitors",
            {"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK, "filters": {"contracts": [bad]}},
        ),
        422,
    )


def test_more_than_10000_addresses_a_call_answers_413(api, rng):
    monitor = api.create(filters={"addresses": []})
    path = f"/v1/monitors/{monitor['id']}/addresses"
    many = [new_address(rng) for _ in range(10_001)]
    assert_error(api.call("POST", path, {"add": many}), 413, "too_many_addresses")
    assert_error(
        api.call("POST", path, {"add": many[:5_001], "remove": many[5_001:]}), 413, "too_many_addresses"
    )
    assert_error(api.call("PATCH", f"/v1/monitors/{monitor['id']}", {"filters": {"addresses": many}}), 413)
    assert_error(
        api.call(
            "POST",
            "/v1/monitors",
            {"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK, "filters": {"addresses": many}},
        ),
        413,
    )
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["address_count"] == 0
    assert api.call("POST", path, {"add": many[:10_000]}).body == {
        "added": 10_000,
        "removed": 0,
        "address_count": 10_000,
    }


def test_a_body_over_the_limit_answers_413(api):
    from blockhook.api.limits import MAX_BODY_BYTES

    monitor = api.create()
    huge = {"add": ["0x" + os.urandom(20).hex() for _ in range(MAX_BODY_BYTES // 44)]}
    assert len(json.dumps(huge)) > MAX_BODY_BYTES
    assert_error(api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", huge), 413, "payload_too_large")
    padded = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert_error(api.call("POST", "/v1/monitors", raw=padded), 413, "payload_too_large")
    assert_error(api.call("POST", "/v1/monitors", raw=b"{" * (MAX_BODY_BYTES + 1)), 413, "payload_too_large")
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["address_count"] == 0


# --- refused bodies --------------------------------------------------------------------------


def test_an_unknown_field_answers_422(api):
    error = assert_error(
        api.call("POST", "/v1/monitors", {"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK, "bogus": 1}),
        422,
        "validation_failed",
    )
    assert {"field": "bogus", "in": "body", "message": "is not a field of this request"} in error["details"]
    assert_error(
        api.call(
            "POST",
            "/v1/monitors",
            {
                "name": "x",
                "chain_ids": [1],
                "webhook_url": WEBHOOK,
                "filters": {"kinds": ["log"], "more": []},
            },
        ),
        422,
    )


@pytest.mark.parametrize("raw", [b"{not json", b'{"name": "x",}', b"\xff\xfe\x00", b'{"name": "x"'])
def test_invalid_json_answers_400(api, raw):
    assert_error(api.call("POST", "/v1/monitors", raw=raw), 400, "invalid_json")


def test_a_non_json_content_type_answers_400(api):
    body = json.dumps({"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK}).encode()
    assert_error(api.call("POST", "/v1/monitors", raw=body, headers={"content-type": "text/plain"}), 400)


@pytest.mark.parametrize("raw", [b"null", b"[]", b'"monitor"', b"42", b""])
def test_a_body_that_is_not_an_object_answers_422(api, raw):
    assert_error(api.call("POST", "/v1/monitors", raw=raw, headers={"content-type": "application/json"}), 422)


def test_an_unknown_chain_id_answers_422(api):
    error = assert_error(
        api.call("POST", "/v1/monitors", {"name": "x", "chain_ids": [1, 56], "webhook_url": WEBHOOK}),
        422,
        "unknown_chain",
    )
    assert "56" in error["message"]


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "file:///etc/passwd", "example.com/hook", "http://", "javascript:alert(1)"],
)
def test_a_webhook_url_that_is_not_http_answers_422(api, url):
    assert_error(
        api.call("POST", "/v1/monitors", {"name": "x", "chain_ids": [1], "webhook_url": url}),
        422,
        "invalid_webhook_url",
    )


def test_a_condition_is_compiled_when_saved(api):
    big = "event.value >= 1000000000000000000000"  # beyond 64 bits: still exact
    created = api.create(condition=big)
    assert created["condition"] == big
    path = f"/v1/monitors/{created['id']}"
    assert api.call("PATCH", path, {"condition": "event.to == '0x" + "ab" * 20 + "'"}).status == 200
    for broken in ("event.value >=", "event.value >= 2 ** 300", "(((", ""):
        answer = api.call("POST", "/v1/monitors", {"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK, "condition": broken})
        assert_error(answer, 422, "invalid_condition")
        assert answer.body["error"]["message"]  # the compiler's own words


def test_confirmations_are_kept_and_changeable(api):
    created = api.create(confirmations=5)
    assert created["confirmations"] == 5
    path = f"/v1/monitors/{created['id']}"
    assert api.call("PATCH", path, {"confirmations": 12}).body["confirmations"] == 12
    assert api.call("GET", path).body["confirmations"] == 12
    assert api.create()["confirmations"] is None  # null: the chain's default


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"chain_ids": []},
        {"chain_ids": [0]},
        {"chain_ids": [-1]},
        {"chain_ids": [10**40]},
        {"chain_ids": ["one"]},
        {"chain_ids": 1},
        {"webhook_url": ""},
        {"webhook_url": "https://example.com/" + "a" * 2048},
        {"filters": {"kinds": []}},
        {"filters": {"kinds": ["mints"]}},
        {"filters": {"event_signatures": ["Transfer(address"]}},
        {"filters": {"event_signatures": [""]}},
        {"filters": {"contracts": ["0x1234"]}},
        {"filters": []},
        {"confirmations": -1},
        {"confirmations": 1.5},
        {"active": "yes please"},
    ],
)
def test_invalid_monitor_fields_answer_422(api, fields):
    body = {"name": "x", "chain_ids": [1], "webhook_url": WEBHOOK, **fields}
    assert_error(api.call("POST", "/v1/monitors", body), 422)


# --- routes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing-here"),
        ("GET", "/v2/monitors"),
        ("PUT", "/v2/monitors"),
        ("GET", "/"),
    ],
)
def test_an_unknown_route_answers_404(api, method, path):
    assert_error(api.call(method, path), 404, "not_found")


@pytest.mark.parametrize(
    "monitor_id",
    ["mon_000000000000000000000000", "nope", "mon_" + "0" * 2000, "%00", "mon_%27%20OR%201%3D1", "ü" * 30],
)
def test_a_monitor_that_does_not_exist_answers_404(api, monitor_id):
    path = f"/v1/monitors/{monitor_id}"
    assert_error(api.call("GET", path), 404, "not_found")
    assert_error(api.call("PATCH", path, {"name": "x"}), 404, "not_found")
    assert_error(api.call("DELETE", path), 404, "not_found")
    assert_error(api.call("GET", path + "/addresses"), 404, "not_found")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
MONITOR_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": JSON_VALUES,
        "chain_ids": JSON_VALUES | st.lists(st.integers(), max_size=3),
        "webhook_url": JSON_VALUES | st.sampled_from([WEBHOOK, "ftp://x", "http://10.0.0.1/"]),
        "filters": JSON_VALUES
        | st.fixed_dictionaries({}, optional={"kinds": JSON_VALUES, "addresses": JSON_VALUES}),
        "condition": JSON_VALUES,
        "confirmations": JSON_VALUES,
        "active": JSON_VALUES,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON_VALUES | MONITOR_FIELDS)
def test_any_json_body_gets_an_answer_never_a_500(api, body):
    for method, path in (("POST", "/v1/monitors"), ("PATCH", "/v1/monitors/mon_000000000000000000000000")):
        answer = api.call(method, path, raw=json.dumps(body).encode())
        if answer.status == 201:
            api.call("DELETE", f"/v1/monitors/{answer.body['id']}")
        else:
            assert answer.status in ERROR_STATUSES
            assert_error(answer, answer.status)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON_VALUES | st.fixed_dictionaries({}, optional={"add": JSON_VALUES, "remove": JSON_VALUES}))
def test_any_address_change_gets_an_answer_never_a_500(api, body):
    monitors = [item for item in api.all_monitors() if item["name"] == "fuzzed"]
    monitor = monitors[0] if monitors else api.create(name="fuzzed")
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/addresses", raw=json.dumps(body).encode())
    if answer.status != 200:
        assert answer.status in ERROR_STATUSES
        assert_error(answer, answer.status)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=40), monitor_id=st.text(min_size=1, max_size=40))
def test_any_query_and_id_get_an_answer_never_a_500(api, query, monitor_id):
    assert api.call("GET", f"/v1/monitors?{quote(query, safe='=&')}").status in ERROR_STATUSES | {200}
    assert_error(api.call("GET", f"/v1/monitors/{quote(monitor_id, safe='')}"), 404)


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_document_lists_every_route(api):
    from blockhook.api.routes import app

    answer = api.call("GET", "/v1/openapi.json")
    assert answer.status == 200, answer.raw
    document = answer.body
    assert document["openapi"].startswith("3.")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - a moto dependency, normally present
        validate = None
    if validate is not None:
        validate(document)
    assert isinstance(document["info"]["title"], str) and isinstance(document["info"]["version"], str)

    documented = {
        (method.upper(), path) for path, operations in document["paths"].items() for method in operations
    }
    registered = {(route.method, route.openapi_path) for route in app._static_routes + app._dynamic_routes}
    assert documented == registered
    assert {
        ("GET", "/v1/health"),
        ("POST", "/v1/monitors"),
        ("GET", "/v1/monitors"),
        ("GET", "/v1/monitors/{monitor_id}"),
        ("PATCH", "/v1/monitors/{monitor_id}"),
        ("DELETE", "/v1/monitors/{monitor_id}"),
        ("POST", "/v1/monitors/{monitor_id}/addresses"),
        ("GET", "/v1/monitors/{monitor_id}/addresses"),
        ("GET", "/v1/openapi.json"),
    } <= documented

    # Every documented operation is served here.
    monitor_id = api.create()["id"]
    for method, path in documented:
        answer = api.call(
            method,
            path.replace("{monitor_id}", monitor_id),
            raw=b"{}" if method in {"POST", "PATCH"} else None,
        )
        assert not (answer.status == 404 and answer.body["error"]["message"] == "no such route"), (
            method,
            path,
        )

    schemas = document["components"]["schemas"]
    assert "secret" in schemas["MonitorWithSecret"]["properties"]
    assert "secret" not in schemas["MonitorOut"]["properties"]
    assert set(schemas["ErrorEnvelope"]["properties"]) == {"error"}
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }
    assert document["security"] == [{"apiKey": []}]
    assert document["paths"]["/v1/health"]["get"]["security"] == []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)
    create = document["paths"]["/v1/monitors"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MonitorCreate")
    assert "201" in create["responses"]


def test_openapi_document_needs_a_key(api):
    assert_error(api.call("GET", "/v1/openapi.json", key=None), 401)


def test_neither_api_keys_nor_secrets_reach_the_logs(api, caplog, capsys):
    caplog.set_level("DEBUG", logger="blockhook")
    caplog.set_level("INFO")
    created = api.create()
    path = f"/v1/monitors/{created['id']}"
    api.call("GET", path)
    api.call("PATCH", path, {"name": "renamed"})
    api.call("POST", "/v1/monitors", {"name": 1})  # invalid: logged as a refusal, if at all
    api.call("GET", "/v1/monitors", key="not-a-key-but-secret-looking-" + KEY_A)
    api.call("POST", f"{path}/addresses", raw=b"{not json")
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err
    for secret in (KEY_A, KEY_B, created["secret"]):
        assert secret not in logs


# --- call traces -------------------------------------------------------------------------------


def test_chains_say_whether_they_serve_call_traces(api):
    from blockhook.store.chain_state import record_trace_format
    from blockhook.store.models import ChainStateModel

    def traces() -> dict[int, Any]:
        answer = api.call("GET", "/v1/chains")
        assert answer.status == 200, answer.raw
        return {chain["chain_id"]: chain["traces"] for chain in answer.body["items"]}

    ChainStateModel(f"traces#{AUTO_TRACES}").delete()
    assert {chain_id: traces()[chain_id] for chain_id in (NO_TRACES, TRACED, AUTO_TRACES)} == {
        NO_TRACES: False, TRACED: True, AUTO_TRACES: None  # "auto": not known until ingest asked the node
    }  # fmt: skip
    record_trace_format(AUTO_TRACES, "parity")
    assert traces()[AUTO_TRACES] is True
    record_trace_format(AUTO_TRACES, None)
    assert traces()[AUTO_TRACES] is False


def test_internal_transfer_only_on_chains_that_serve_call_traces(api):
    from blockhook.store.chain_state import record_trace_format

    def create(chain_ids: list[int], kinds: list[str]):
        body = {"name": "payouts", "chain_ids": chain_ids, "webhook_url": WEBHOOK, "filters": {"kinds": kinds}}
        return api.call("POST", "/v1/monitors", body)

    refused = assert_error(create([TRACED, NO_TRACES], ["internal_transfer"]), 422, "traces_unavailable")
    assert str(NO_TRACES) in refused["message"] and "internal_transfer" in refused["message"]
    assert create([TRACED], ["native_transfer", "internal_transfer"]).status == 201
    assert create([NO_TRACES], ["native_transfer", "withdrawal"]).status == 201

    record_trace_format(AUTO_TRACES, None)
    assert_error(create([AUTO_TRACES], ["internal_transfer"]), 422, "traces_unavailable")
    from blockhook.store.models import ChainStateModel

    ChainStateModel(f"traces#{AUTO_TRACES}").delete()
    assert_error(create([AUTO_TRACES], ["internal_transfer"]), 422, "traces_unknown")
    record_trace_format(AUTO_TRACES, "call_tracer")
    assert create([AUTO_TRACES], ["internal_transfer"]).status == 201

    plain = api.create(chain_ids=[NO_TRACES], filters={"kinds": ["native_transfer"]})
    path = f"/v1/monitors/{plain['id']}"
    assert_error(api.call("PATCH", path, {"filters": {"kinds": ["internal_transfer"]}}), 422, "traces_unavailable")
    assert api.call("GET", path).body["filters"]["kinds"] == ["native_transfer"]  # nothing changed


# --- backfill ----------------------------------------------------------------------------------


def ingested(chain_id: int, last: int, head: int) -> None:
    """Record that ingest produced blocks up to `last` and saw the chain's head at `head`."""
    from blockhook.store.chain_state import load_checkpoint, save_checkpoint

    save_checkpoint(load_checkpoint(chain_id), [(last, "0x" + f"{last:064x}")], head)


def test_a_backfill_reaches_only_blocks_the_chains_default_confirmations_cover(api):
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)  # the chain's default is 5 confirmations
    monitor = api.create(chain_ids=[BACKFILL_CHAIN])
    path = f"/v1/monitors/{monitor['id']}/backfill"
    error = assert_error(api.call("POST", path, {"from_block": 900, "to_block": 996}), 422, "unconfirmed_blocks")
    assert "995" in error["message"] and error["details"] == [{"last_block": 995, "head": 1_000, "confirmations": 5}]
    assert api.call("GET", f"/v1/monitors/{monitor['id']}").body["backfill"] is None  # nothing was started
    answer = api.call("POST", path, {"from_block": 900, "to_block": 995})
    assert answer.status == 202, answer.raw
    assert (answer.body["to_block"], answer.body["status"]) == (995, "queued")


def test_a_backfill_reaches_only_blocks_the_monitors_own_confirmations_cover(api):
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)
    deep = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=20)
    path = f"/v1/monitors/{deep['id']}/backfill"
    assert_error(api.call("POST", path, {"from_block": 900, "to_block": 981}), 422, "unconfirmed_blocks")
    assert api.call("POST", path, {"from_block": 900, "to_block": 980}).status == 202

    at_once = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)  # its own 0, not the chain's 5
    assert api.call("POST", f"/v1/monitors/{at_once['id']}/backfill", {"from_block": 999, "to_block": 1_000}).status == 202


def test_a_backfill_follows_the_head_ingest_last_saw_and_the_blocks_it_ingested(api):
    monitor = api.create(chain_ids=[BACKFILL_CHAIN], confirmations=0)
    path = f"/v1/monitors/{monitor['id']}/backfill"
    ingested(BACKFILL_CHAIN, last=1_990, head=2_000)  # ingest is 10 blocks behind the head
    assert_error(api.call("POST", path, {"from_block": 1_900, "to_block": 2_001}), 422, "unconfirmed_blocks")
    assert_error(api.call("POST", path, {"from_block": 1_900, "to_block": 1_995}), 422, "beyond_head")
    assert api.call("POST", path, {"from_block": 1_900, "to_block": 1_990}).status == 202


def test_a_backfill_on_a_chain_whose_head_is_unknown_answers_409(api):
    monitor = api.create(chain_ids=[HEADLESS_CHAIN], confirmations=0)
    answer = api.call("POST", f"/v1/monitors/{monitor['id']}/backfill", {"from_block": 0, "to_block": 0})
    error = assert_error(answer, 409, "head_unknown")
    assert str(HEADLESS_CHAIN) in error["message"]


# --- finality tags and chain status ------------------------------------------------------------


def test_confirmations_may_be_a_finality_tag_and_nothing_else(api):
    created = api.create(confirmations="safe")
    assert created["confirmations"] == "safe"
    path = f"/v1/monitors/{created['id']}"
    assert api.call("PATCH", path, {"confirmations": "finalized"}).body["confirmations"] == "finalized"
    assert api.call("PATCH", path, {"confirmations": 3}).body["confirmations"] == 3
    assert api.call("PATCH", path, {"confirmations": None}).body["confirmations"] is None
    for wrong in ("latest", "SAFE", -1, 1001, "3", True):
        assert_error(api.call("PATCH", path, {"confirmations": wrong}), 422)
    assert api.call("GET", path).body["confirmations"] is None


def test_a_backfill_of_a_safe_monitor_reaches_the_nodes_safe_block(api):
    from blockhook.store.chain_state import record_node_heads
    from blockhook.store.models import ChainStateModel

    ChainStateModel(f"node#{BACKFILL_CHAIN}").delete()
    ingested(BACKFILL_CHAIN, last=1_000, head=1_000)
    monitor = api.create(chain_ids=[BACKFILL_CHAIN], confirmations="finalized")
    path = f"/v1/monitors/{monitor['id']}/backfill"
    error = assert_error(api.call("POST", path, {"from_block": 900, "to_block": 900}), 409, "head_unknown")
    assert "finalized block" in error["message"]
    record_node_heads(BACKFILL_CHAIN, 1_000, {"safe": 990, "finalized": 960}, time.time(), None)
    error = assert_error(api.call("POST", path, {"from_block": 900, "to_block": 961}), 422, "unconfirmed_blocks")
    assert error["details"] == [{"last_block": 960, "head": 1_000, "confirmations": "finalized"}]
    assert api.call("POST", path, {"from_block": 900, "to_block": 960}).status == 202


def test_chains_show_the_nodes_safe_and_finalized_blocks_and_whether_the_head_moves(api):
    from blockhook.store.chain_state import record_node_heads
    from blockhook.store.models import ChainStateModel

    def chain(chain_id: int) -> dict:
        answer = api.call("GET", "/v1/chains")
        assert answer.status == 200, answer.raw
        return next(item for item in answer.body["items"] if item["chain_id"] == chain_id)

    ChainStateModel(f"node#{HEADLESS_CHAIN}").delete()
    assert (chain(HEADLESS_CHAIN)["status"], chain(HEADLESS_CHAIN)["safe"]) == ("unknown", None)
    now = time.time()
    record_node_heads(HEADLESS_CHAIN, 500, {"safe": 468, "finalized": 436}, now, None)
    shown = chain(HEADLESS_CHAIN)
    assert (shown["safe"], shown["finalized"], shown["status"]) == (468, 436, "live")
    # Its poll interval is 1 s: a head that has not moved for 10 s is a stalled chain.
    moved = record_node_heads(HEADLESS_CHAIN, 500, {"safe": 468, "finalized": 436}, now - 11, None)
    record_node_heads(HEADLESS_CHAIN, 500, {"safe": 468, "finalized": 436}, now, moved)
    assert chain(HEADLESS_CHAIN)["status"] == "stalled"
    ChainStateModel(f"node#{HEADLESS_CHAIN}").delete()


# --- bodies no client should be able to turn into a 500 ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),  # nested past any parser's recursion
        (b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "application/json", 400),
        (b"--x\r\n\r\nbody", "multipart/form-data", 400),  # and no boundary
        (b"a=1", "application/x-www-form-urlencoded", 422),
    ],
    ids=["deeply nested", "nested inside a field", "multipart without boundary", "form"],
)
def test_odd_bodies_answer_an_error_envelope_not_a_500(api, raw, content_type, status):
    answer = api.call("POST", "/v1/monitors", raw=raw, headers={"content-type": content_type})
    assert_error(answer, status)


def test_a_monitor_deleted_while_it_is_changed_answers_404(api):
    from blockhook.store import monitors as monitor_store

    created = api.create()
    update = monitor_store.update_monitor

    def deleted_meanwhile(monitor, changes):
        monitor_store.delete_monitor(monitor_store.get_monitor(monitor.tenant_id, monitor.monitor_id))
        return update(monitor, changes)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(monitor_store, "update_monitor", deleted_meanwhile)
        answer = api.call("PATCH", f"/v1/monitors/{created['id']}", {"name": "renamed"})
    assert_error(answer, 404, "not_found")
