"""The API's tenants, from CDK context `tenants`: one API key and one usage plan each.

A tenant is an API Gateway API key: the api function takes the id of the key that API Gateway
checked as the tenant (BLOCKHOOK_AUTH_MODE=apigateway, blockhook.api.auth), so every resource a
tenant creates is stored under `key_<api key id>`. Each key is in its own usage plan, so each tenant
has its own throttle and, optionally, a daily quota; the stage's own ceiling (api.py) still caps all
of them together.

    "tenants": [
      {"name": "default"},
      {"name": "acme", "rate_limit": 20, "burst": 40, "quota_per_day": 100000},
      {"name": "globex", "api_key_id": "a1b2c3d4e5"},
      {"name": "initech", "keys": [1, 2]}
    ]

`name`: letters, digits and hyphens; it names the key and the plan, and it is the tenant's identity in
the template: renaming a tenant makes a new key, that is a new, empty tenant. The tenant named `default`
keeps the stack's original key and plan (what a stack deployed before this setting created), so keep
it in the list to keep that tenant. `rate_limit` (requests a second) and `burst` default to the local
API's throttle. `quota_per_day`: requests a day, unset for none. `api_key_id`: use this existing key
instead of creating one, to re-attach a tenant whose key outlived an earlier stack (keys are retained
on delete, like the tables that hold the tenant's data).

`keys`: the tenant's live keys by generation, default [1]; at most two, so that a rotation can hand out
the new key while the old one still works. Generation 1 is the tenant's first key and its identity:
the tenant is `key_<id of key 1>` whichever of its keys calls (the api function maps a later key's id
to it, BLOCKHOOK_TENANT_KEYS). Rotating: [1, 2], deploy, hand out key 2; once the tenant uses it, [2]:
key 1 stays (its id names the tenant) but is disabled and out of the usage plan, so API Gateway refuses
it. A generation above 1 that leaves the list is deleted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from blockhook.config import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT

# The stage's throttle, all tenants together (and a ceiling no single tenant may exceed).
STAGE_RATE_LIMIT = 500
STAGE_BURST_LIMIT = 1000

DEFAULT_TENANT = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,47}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,128}$")
_FIELDS = {"name", "rate_limit", "burst", "quota_per_day", "api_key_id", "keys"}
MAX_LIVE_KEYS = 2


class TenantsContextError(ValueError):
    """The `tenants` context is malformed."""


@dataclass(frozen=True)
class Tenant:
    name: str
    rate_limit: float = DEFAULT_RATE_LIMIT
    burst: int = DEFAULT_RATE_BURST
    quota_per_day: int | None = None
    api_key_id: str | None = None  # an existing key to attach instead of creating one
    keys: tuple[int, ...] = (1,)  # the live keys' generations (1 = the first key, the tenant's identity)


DEFAULT_TENANTS = (Tenant(DEFAULT_TENANT),)


def tenants_from_context(raw: Any) -> tuple[Tenant, ...]:
    """The tenants of the context value: a list of entries, that list as a JSON string (`-c tenants='[...]'`
    arrives as one), or None (one tenant, `default`, with the default throttle)."""
    if raw is None:
        return DEFAULT_TENANTS
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise TenantsContextError(f"CDK context `tenants` is not valid JSON: {err}") from None
    if not isinstance(raw, list) or not raw:
        raise TenantsContextError(
            'CDK context `tenants` must be a non-empty list of tenants, e.g. [{"name": "default"}]'
        )
    tenants = tuple(_tenant(entry, position) for position, entry in enumerate(raw))
    seen: dict[str, str] = {}
    for tenant in tenants:
        folded = tenant.name.replace("-", "").lower()  # what survives in CloudFormation logical ids
        if folded in seen:
            raise TenantsContextError(
                f"CDK context `tenants`: names {seen[folded]!r} and {tenant.name!r} are the same tenant "
                "(names are compared without case and hyphens)"
            )
        seen[folded] = tenant.name
    key_ids = [t.api_key_id for t in tenants if t.api_key_id]
    if len(key_ids) != len(set(key_ids)):
        raise TenantsContextError("CDK context `tenants`: two tenants name the same api_key_id")
    return tenants


def _tenant(entry: Any, position: int) -> Tenant:
    where = f"CDK context `tenants`, entry {position}"
    if not isinstance(entry, dict):
        raise TenantsContextError(f"{where}: expected an object with at least a name, got {entry!r}")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise TenantsContextError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(_FIELDS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise TenantsContextError(
            f"{where}: name must be 1-48 letters, digits or hyphens, starting with a letter or digit; got {name!r}"
        )
    where = f"CDK context `tenants`, tenant {name!r}"
    rate = entry.get("rate_limit", DEFAULT_RATE_LIMIT)
    if not _is_number(rate) or not 0 < rate <= STAGE_RATE_LIMIT:
        raise TenantsContextError(
            f"{where}: rate_limit must be a number of requests a second above 0 and at most the stage's "
            f"{STAGE_RATE_LIMIT}; got {rate!r}"
        )
    burst = entry.get("burst", DEFAULT_RATE_BURST)
    if not _is_int(burst) or not 1 <= burst <= STAGE_BURST_LIMIT:
        raise TenantsContextError(
            f"{where}: burst must be a whole number of requests from 1 to the stage's {STAGE_BURST_LIMIT}; got {burst!r}"
        )
    quota = entry.get("quota_per_day")
    if quota is not None and (not _is_int(quota) or quota < 1):
        raise TenantsContextError(f"{where}: quota_per_day must be a whole number of requests above 0; got {quota!r}")
    key_id = entry.get("api_key_id")
    if key_id is not None and (not isinstance(key_id, str) or not _KEY_ID.match(key_id)):
        raise TenantsContextError(f"{where}: api_key_id must be an API Gateway key id (letters and digits); got {key_id!r}")
    keys = entry.get("keys", [1])
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_LIVE_KEYS
        or not all(_is_int(generation) and generation >= 1 for generation in keys)
        or len(set(keys)) != len(keys)
    ):
        raise TenantsContextError(
            f"{where}: keys must list the live keys' generations, one or {MAX_LIVE_KEYS} different whole numbers "
            f"from 1 (e.g. [1, 2] during a rotation); got {keys!r}"
        )
    return Tenant(
        name=name, rate_limit=rate, burst=burst, quota_per_day=quota, api_key_id=key_id, keys=tuple(sorted(keys))
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
