"""A tenant's two keys during a rotation (cloud auth: API Gateway's key id): the api function takes the
new key as the tenant of the first, so every monitor stays the tenant's whichever key calls."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.support.api import Api, clear_api_caches, local_api
from tests.support.builders import LOCAL_CHAIN, monitor_body

CHAINS = {"chains": [{"chain_id": LOCAL_CHAIN, "rpc_urls": ["http://127.0.0.1:9"]}]}


@pytest.fixture
def keys() -> dict[str, str]:
    return {name: uuid.uuid4().hex[:10] for name in ("first", "second", "other")}


@pytest.fixture
def api(moto_endpoint, keys) -> Iterator[Api]:
    mapping = {keys["second"]: f"key_{keys['first']}"}
    with pytest.MonkeyPatch.context() as patch:
        yield local_api(
            patch, ["unused"], CHAINS, BLOCKHOOK_AUTH_MODE="apigateway", BLOCKHOOK_TENANT_KEYS=json.dumps(mapping)
        )
    clear_api_caches()


def test_both_keys_of_a_rotation_see_and_change_the_same_monitors(api: Api, keys) -> None:
    created = api.call("POST", "/v1/monitors", monitor_body(name="hot wallets"), key=None, api_key_id=keys["first"])
    assert created.status == 201, created.raw
    monitor = created.body["id"]

    listed = api.call("GET", "/v1/monitors", key=None, api_key_id=keys["second"])
    assert [item["id"] for item in listed.body["items"]] == [monitor]
    renamed = api.call("PATCH", f"/v1/monitors/{monitor}", {"name": "renamed"}, key=None, api_key_id=keys["second"])
    assert renamed.status == 200 and renamed.body["name"] == "renamed"
    assert api.call("GET", f"/v1/monitors/{monitor}", key=None, api_key_id=keys["first"]).body["name"] == "renamed"

    # Another tenant's key sees none of it.
    assert api.call("GET", "/v1/monitors", key=None, api_key_id=keys["other"]).body["items"] == []
    assert api.call("GET", f"/v1/monitors/{monitor}", key=None, api_key_id=keys["other"]).status == 404


def test_a_malformed_mapping_is_refused_at_start() -> None:
    from blockhook.config import load_settings

    with pytest.raises(ValueError, match="BLOCKHOOK_TENANT_KEYS is not JSON"):
        load_settings({"BLOCKHOOK_TENANT_KEYS": "{"})
    with pytest.raises(ValueError, match="must be a JSON object"):
        load_settings({"BLOCKHOOK_TENANT_KEYS": '["a"]'})
