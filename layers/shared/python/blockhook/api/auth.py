"""Who is calling: the tenant of the request's API key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any


class Unauthorized(Exception):
    pass


def tenant_of_local_key(key: str) -> str:
    # The tenant id is derived from the key, never the key itself: ids appear in logs and records.
    return "tenant_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def resolve_tenant(
    auth_mode: str,
    headers: Mapping[str, str],
    request_context: Mapping[str, Any],
    local_keys: Sequence[str],
    key_tenants: Mapping[str, str] | None = None,
) -> str:
    if auth_mode == "apigateway":
        # API Gateway has already checked the key against its usage plans. A tenant is named after its first
        # key (`key_<id>`); a key made later for it (a rotation) is mapped to that name by `key_tenants`, so
        # the tenant keeps its data whichever of its keys calls.
        key_id = (request_context.get("identity") or {}).get("apiKeyId")
        if not key_id:
            raise Unauthorized("missing API key")
        return (key_tenants or {}).get(key_id) or f"key_{key_id}"
    presented = next((value for name, value in headers.items() if name.lower() == "x-api-key"), None)
    if not presented:
        raise Unauthorized("missing x-api-key header")
    for key in local_keys:
        if hmac.compare_digest(presented.encode(), key.encode()):
            return tenant_of_local_key(key)
    raise Unauthorized("unknown API key")
