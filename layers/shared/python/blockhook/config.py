"""Settings read from the environment, the one place that knows the variable names.

The local stack and the CDK app set the same variables, so the functions read
their configuration the same way everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

LOCAL_API_KEY = "local-dev-key"
# Per tenant, as API Gateway's usage plan throttles each API key in the cloud (infra/blockhook_infra/api.py).
DEFAULT_RATE_LIMIT = 50.0  # requests a second
DEFAULT_RATE_BURST = 100  # requests at once


@dataclass(frozen=True)
class Settings:
    mode: str  # "local" or "cloud"; unset means cloud, so a forgotten variable never opens the SSRF guard
    kafka_bootstrap: str
    kafka_topic: str
    kafka_auth: str  # "plaintext" or "iam"
    kafka_consumer_group: str
    delivery_queue_url: str
    auth_mode: str  # "local" (keys from the environment) or "apigateway" (API key id is the tenant)
    api_keys: tuple[str, ...]
    retry_schedule: str | None
    ingest_stop_margin_seconds: float
    max_monitors_per_tenant: int
    secrets_key_id: str = ""  # the KMS key webhook secrets are sealed with
    # The local API's throttle (auth_mode "local"); in the cloud API Gateway throttles before the function.
    rate_limit: float = DEFAULT_RATE_LIMIT
    rate_burst: int = DEFAULT_RATE_BURST
    # auth_mode "apigateway": the tenant of each API key id that is not its tenant's first key (a rotation's
    # new key); any other key id is the tenant `key_<id>`.
    tenant_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def allow_private_webhooks(self) -> bool:
        # Local mode posts to receivers on loopback; the cloud refuses private targets (SSRF).
        return self.mode == "local"


def _api_keys(environ: Mapping[str, str]) -> tuple[str, ...]:
    keys = [key.strip() for key in environ.get("BLOCKHOOK_API_KEYS", "").split(",") if key.strip()]
    single = environ.get("BLOCKHOOK_API_KEY", "").strip()
    if single and single not in keys:
        keys.insert(0, single)
    return tuple(keys) or (LOCAL_API_KEY,)


def _tenant_keys(environ: Mapping[str, str]) -> dict[str, str]:
    raw = environ.get("BLOCKHOOK_TENANT_KEYS") or "{}"
    try:
        mapping = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"BLOCKHOOK_TENANT_KEYS is not JSON: {error}") from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValueError('BLOCKHOOK_TENANT_KEYS must be a JSON object {"<api key id>": "<tenant id>"}')
    return mapping


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        mode=env.get("BLOCKHOOK_MODE") or "cloud",
        kafka_bootstrap=env.get("BLOCKHOOK_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        kafka_topic=env.get("BLOCKHOOK_KAFKA_TOPIC", "blocks"),
        kafka_auth=env.get("BLOCKHOOK_KAFKA_AUTH", "plaintext"),
        kafka_consumer_group=env.get("BLOCKHOOK_KAFKA_GROUP", "blockhook-matcher"),
        delivery_queue_url=env.get("BLOCKHOOK_DELIVERY_QUEUE_URL", ""),
        auth_mode=env.get("BLOCKHOOK_AUTH_MODE", "local"),
        api_keys=_api_keys(env),
        retry_schedule=env.get("BLOCKHOOK_RETRY_SCHEDULE") or None,
        ingest_stop_margin_seconds=float(env.get("BLOCKHOOK_INGEST_STOP_MARGIN_SECONDS", "15")),
        max_monitors_per_tenant=int(env.get("BLOCKHOOK_MAX_MONITORS_PER_TENANT", "1000")),
        secrets_key_id=env.get("BLOCKHOOK_SECRETS_KEY_ID", ""),
        rate_limit=float(env.get("BLOCKHOOK_RATE_LIMIT") or DEFAULT_RATE_LIMIT),
        rate_burst=int(env.get("BLOCKHOOK_RATE_BURST") or DEFAULT_RATE_BURST),
        tenant_keys=_tenant_keys(env),
    )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read once (a Lambda's environment does not change)."""
    return load_settings()
