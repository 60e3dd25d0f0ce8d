"""The chains to watch: ids, RPC URLs, confirmations and poll intervals, from the environment.

Sources, first one set wins: BLOCKHOOK_CHAINS_FILE (a JSON file), BLOCKHOOK_CHAINS
(the same JSON inline, for the cloud deployment), BLOCKHOOK_RPC_URL (one node,
its chain id asked with eth_chainId). In a document, a chain may name a Secrets
Manager secret holding its URLs (`rpc_url_secret`, see chain/secrets.py) instead of
listing `rpc_urls`; it is read when the chains load. BLOCKHOOK_POLL_INTERVAL overrides every
chain's poll interval. Error messages never show more of an RPC URL than its
host: URLs may carry API keys.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blockhook.chain.rpc import JsonRpcClient, redact_url
from blockhook.chain.secrets import RpcSecretError, rpc_urls_from_secret

# Blocks deep enough that a reorg is practically over, per chain id; 0 where blocks are final at once
# for our purposes (L2 sequencers, local dev chains).
DEFAULT_CONFIRMATIONS: dict[int, int] = {1: 12, 56: 15, 137: 128, 8453: 0, 42161: 0, 31337: 0}


class ChainRegistryError(ValueError):
    """The chain configuration is missing, unreadable or invalid."""


class UnknownChainError(KeyError):
    """No configured chain has this id."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else "unknown chain"


class ChainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chain_id: int = Field(gt=0)
    name: str = ""
    rpc_urls: list[str] = Field(min_length=1)
    confirmations: int = Field(default=0, ge=0)
    poll_interval: float = Field(default=1.0, gt=0)
    max_blocks_per_batch: int = Field(default=25, ge=1, le=500)
    # Batched requests ingest keeps in flight while catching up (at most: it halves on HTTP 429 / 503
    # or timeouts and climbs back one at a time). 4: a node serves several at once far faster than
    # one after another, and hosted providers' per-second limits still allow it for batches of 25.
    max_requests_in_flight: int = Field(default=4, ge=1, le=16)
    start_block: int | None = Field(default=None, ge=0)
    # How call traces (internal_transfer events) are read: "auto" asks the node at start which
    # format it serves; "call_tracer" (debug_traceBlockByNumber) or "parity" (trace_block) insist
    # on one; "off" reads none.
    traces: Literal["auto", "call_tracer", "parity", "off"] = "auto"

    @field_validator("rpc_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for position, url in enumerate(urls):
            if not _is_http_url(url):
                raise ValueError(f"rpc_urls[{position}] ({redact_url(url)}) is not an http(s) URL")
        return urls

    @model_validator(mode="after")
    def _default_confirmations(self) -> ChainConfig:
        if "confirmations" not in self.model_fields_set:
            self.confirmations = DEFAULT_CONFIRMATIONS.get(self.chain_id, 0)
        return self


class _ChainsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chains: list[ChainConfig]


def load_chains(
    environ: Mapping[str, str] | None = None,
    chain_id_of: Callable[[str], int] | None = None,
    rpc_secret: Callable[[str], list[str]] | None = None,
) -> list[ChainConfig]:
    """The configured chains, or [] when nothing is configured.

    With BLOCKHOOK_RPC_URL the node is asked for its chain id; RpcUnavailable or
    RpcError from that call pass through unchanged (the node may just be starting).
    `rpc_secret` reads the URLs of a chain's `rpc_url_secret` (default: Secrets Manager).
    """
    env = os.environ if environ is None else environ
    chains_file = _setting(env, "BLOCKHOOK_CHAINS_FILE")
    chains_inline = _setting(env, "BLOCKHOOK_CHAINS")
    rpc_url = _setting(env, "BLOCKHOOK_RPC_URL")
    if chains_file:
        path = Path(chains_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ChainRegistryError(
                f"chains file {path}: cannot read it: {exc.__class__.__name__}: {exc}"
            ) from None
        source = f"chains file {path}"
        chains = _parse_document(text, source, rpc_secret or rpc_urls_from_secret)
    elif chains_inline:
        source = "BLOCKHOOK_CHAINS"
        chains = _parse_document(chains_inline, source, rpc_secret or rpc_urls_from_secret)
    elif rpc_url:
        source = "BLOCKHOOK_RPC_URL"
        chains = [_single_node_chain(rpc_url, chain_id_of or _ask_chain_id)]
    else:
        return []
    _refuse_duplicates(chains, source)
    poll_interval = _setting(env, "BLOCKHOOK_POLL_INTERVAL")
    if poll_interval:
        seconds = _positive_seconds(poll_interval)
        chains = [chain.model_copy(update={"poll_interval": seconds}) for chain in chains]
    return chains


def chain_by_id(chains: Iterable[ChainConfig], chain_id: int) -> ChainConfig:
    chains = list(chains)
    for chain in chains:
        if chain.chain_id == chain_id:
            return chain
    configured = ", ".join(str(chain.chain_id) for chain in chains) or "none"
    raise UnknownChainError(f"chain {chain_id} is not configured (configured chains: {configured})")


def _setting(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None  # VAR= in a shell means unset


def _parse_document(text: str, source: str, rpc_secret: Callable[[str], list[str]]) -> list[ChainConfig]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ChainRegistryError(f"{source}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ChainRegistryError(
            f'{source}: expected a JSON object {{"chains": [...]}}, got {type(document).__name__}'
        )
    _resolve_rpc_secrets(document, source, rpc_secret)
    try:
        chains = _ChainsDocument.model_validate(document).chains
    except ValidationError as exc:
        raise ChainRegistryError(f"{source}: invalid chain configuration: {_describe(exc)}") from None
    if not chains:
        raise ChainRegistryError(f"{source}: defines no chains")
    return chains


def _resolve_rpc_secrets(document: dict, source: str, rpc_secret: Callable[[str], list[str]]) -> None:
    """Replace each entry's `rpc_url_secret` with the `rpc_urls` its secret holds (in place)."""
    entries = document.get("chains")
    if not isinstance(entries, list):
        return  # the model's validation says what is wrong
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or "rpc_url_secret" not in entry:
            continue
        secret = entry.pop("rpc_url_secret")
        if "rpc_urls" in entry:
            raise ChainRegistryError(f"{source}: chains.{position}: give rpc_urls or rpc_url_secret, not both")
        if not isinstance(secret, str) or not secret.strip():
            raise ChainRegistryError(f"{source}: chains.{position}.rpc_url_secret: must be a secret name or ARN")
        try:
            entry["rpc_urls"] = rpc_secret(secret.strip())
        except RpcSecretError as exc:
            raise ChainRegistryError(f"{source}: chains.{position}: {exc}") from None


def _describe(exc: ValidationError) -> str:
    """Field paths and messages only: pydantic's own text repeats the input, RPC URLs and their keys included."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def _single_node_chain(url: str, chain_id_of: Callable[[str], int]) -> ChainConfig:
    if not _is_http_url(url):
        raise ChainRegistryError(f"BLOCKHOOK_RPC_URL ({redact_url(url)}) is not an http(s) URL")
    chain_id = chain_id_of(url)
    if type(chain_id) is not int or chain_id <= 0:
        raise ChainRegistryError(
            f"BLOCKHOOK_RPC_URL ({redact_url(url)}): node reported chain id {chain_id!r}"
        )
    return ChainConfig(chain_id=chain_id, rpc_urls=[url])


def _ask_chain_id(url: str) -> int:
    answer: Any = JsonRpcClient([url], timeout=5.0).call("eth_chainId", [])
    try:
        return int(answer, 16)
    except (TypeError, ValueError):
        raise ChainRegistryError(
            f"{redact_url(url)}: eth_chainId answered {answer!r:.60}, not a hex number"
        ) from None


def _refuse_duplicates(chains: list[ChainConfig], source: str) -> None:
    counts = Counter(chain.chain_id for chain in chains)
    duplicates = sorted(chain_id for chain_id, count in counts.items() if count > 1)
    if duplicates:
        listing = ", ".join(map(str, duplicates))
        raise ChainRegistryError(f"{source}: chain id(s) configured more than once: {listing}")


def _positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ChainRegistryError(f"BLOCKHOOK_POLL_INTERVAL={text!r} is not a number of seconds") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ChainRegistryError(f"BLOCKHOOK_POLL_INTERVAL={text!r} must be a positive number of seconds")
    return seconds


def _is_http_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
