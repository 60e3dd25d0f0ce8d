"""The chains ingest polls, read from CDK context `chains` and handed to ingest as BLOCKHOOK_CHAINS."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Lambda allows 4 KB for all of a function's environment variables together; leave room for the others.
MAX_CHAINS_JSON_BYTES = 3000

# cdk.json ships this host so that synth works out of the box; a deployment must override it.
PLACEHOLDER_HOST_SUFFIX = ".invalid"


class ChainsContextError(ValueError):
    """The `chains` context is missing or malformed."""


class ChainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chain_id: int = Field(gt=0)
    name: str = Field(min_length=1)
    rpc_urls: list[str] = Field(min_length=1)
    confirmations: int = Field(ge=0)
    poll_interval: int | float = Field(gt=0)  # seconds; int stays int in the JSON
    max_blocks_per_batch: int = Field(gt=0)


def parse_chains(raw: Any) -> list[ChainConfig]:
    """Validate the context value: a list of chain entries, or that list as a JSON string (`-c chains='[...]'`)."""
    if raw is None:
        raise ChainsContextError(
            "CDK context `chains` is not set: add it to cdk.json or pass -c chains='[...]'"
        )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ChainsContextError(f"CDK context `chains` is not valid JSON: {err}") from err
    if isinstance(raw, dict) and "chains" in raw:
        raw = raw["chains"]  # also accept the {"chains": [...]} shape of BLOCKHOOK_CHAINS itself
    if not isinstance(raw, list) or not raw:
        raise ChainsContextError("CDK context `chains` must be a non-empty list of chain entries")
    chains = []
    for position, entry in enumerate(raw):
        try:
            chains.append(ChainConfig.model_validate(entry))
        except ValidationError as err:
            raise ChainsContextError(f"CDK context `chains`, entry {position}: {err}") from err
    ids = [chain.chain_id for chain in chains]
    if len(set(ids)) != len(ids):
        raise ChainsContextError(f"CDK context `chains` lists a chain id twice: {ids}")
    for chain in chains:
        for url in chain.rpc_urls:
            if urlparse(url).scheme not in ("http", "https", "ws", "wss"):
                raise ChainsContextError(
                    f"chain {chain.chain_id}: RPC URL {url!r} is not an http(s) or ws(s) URL"
                )
    return chains


def chains_env_value(chains: list[ChainConfig]) -> str:
    """BLOCKHOOK_CHAINS: `{"chains": [...]}`, compact, within Lambda's environment size limit."""
    value = json.dumps({"chains": [chain.model_dump() for chain in chains]}, separators=(",", ":"))
    if len(value.encode()) > MAX_CHAINS_JSON_BYTES:
        raise ChainsContextError(
            f"BLOCKHOOK_CHAINS would be {len(value.encode())} bytes, over the {MAX_CHAINS_JSON_BYTES} bytes "
            "that fit in a Lambda environment: list fewer chains or shorter RPC URLs"
        )
    return value


def placeholder_rpc_urls(chains: list[ChainConfig]) -> list[str]:
    """RPC URLs still pointing at cdk.json's placeholder host."""
    return [
        url
        for chain in chains
        for url in chain.rpc_urls
        if (urlparse(url).hostname or "").endswith(PLACEHOLDER_HOST_SUFFIX)
    ]
