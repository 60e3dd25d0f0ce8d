"""The chains ingest polls, from CDK context `chains`, handed to the functions as BLOCKHOOK_CHAINS.

Entries are validated at synth time by the shared package's own chain registry, the code that
reads BLOCKHOOK_CHAINS in the functions: a bad entry fails `cdk synth`, not the deployed function.

An entry gives either `rpc_urls` (fine for keyless nodes) or `rpc_url_secret`, the name of a Secrets
Manager secret holding the URLs (a JSON list, or one URL): node URLs with API keys belong there, never
in the template. The functions read the secret at cold start (blockhook/chain/secrets.py); synth never
reads it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from blockhook.chain.registry import ChainRegistryError, load_chains

# Lambda allows 4 KB for all of a function's environment variables together; leave room for the others.
MAX_CHAINS_JSON_BYTES = 3000

# cdk.json ships this host so that synth works out of the box; a deployment must override it.
PLACEHOLDER_HOST_SUFFIX = ".invalid"
# What synth-time validation pretends a secret holds: the secret itself is read only by the functions.
_SYNTH_SECRET_URL = "https://secret-at-runtime.example"


class ChainsContextError(ValueError):
    """The `chains` context is missing or malformed."""


def chains_env_value(raw: Any) -> str:
    """BLOCKHOOK_CHAINS, `{"chains": [...]}`, from the context value: a list of chain entries, that
    list as a JSON string (`-c chains='[...]'` arrives as one), or the `{"chains": [...]}` document."""
    if raw is None:
        raise ChainsContextError(
            "CDK context `chains` is not set: add it to cdk.json or pass -c chains='[...]'"
        )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ChainsContextError(f"CDK context `chains` is not valid JSON: {err}") from None
    if isinstance(raw, dict) and "chains" in raw:
        raw = raw["chains"]
    if not isinstance(raw, list) or not raw:
        raise ChainsContextError("CDK context `chains` must be a non-empty list of chain entries")
    value = json.dumps({"chains": raw}, separators=(",", ":"))
    try:
        load_chains({"BLOCKHOOK_CHAINS": value}, rpc_secret=lambda name: [_SYNTH_SECRET_URL])
    except ChainRegistryError as err:
        raise ChainsContextError(f"CDK context `chains`: {err}") from None
    if len(value.encode()) > MAX_CHAINS_JSON_BYTES:
        raise ChainsContextError(
            f"BLOCKHOOK_CHAINS would be {len(value.encode())} bytes, over the {MAX_CHAINS_JSON_BYTES} bytes "
            "that fit in a Lambda environment: list fewer chains or shorter RPC URLs"
        )
    return value


def placeholder_hosts(chains_json: str) -> list[str]:
    """Hosts of RPC URLs still pointing at cdk.json's placeholder (hosts only: URLs may carry API keys)."""
    return [
        host
        for chain in json.loads(chains_json)["chains"]
        for url in chain.get("rpc_urls", [])
        if (host := urlsplit(url).hostname or "").endswith(PLACEHOLDER_HOST_SUFFIX)
    ]


def rpc_secret_names(chains_json: str) -> list[str]:
    """The Secrets Manager secrets (names or ARNs) the chains' RPC URLs are read from, in order, once each."""
    names: list[str] = []
    for chain in json.loads(chains_json)["chains"]:
        name = chain.get("rpc_url_secret")
        if name and name.strip() not in names:
            names.append(name.strip())
    return names
