"""Chains whose RPC URLs live in Secrets Manager (rpc_url_secret), read on a real moto server."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from blockhook.chain.registry import ChainRegistryError, load_chains
from blockhook.chain.secrets import RpcSecretError, parse_rpc_secret, rpc_urls_from_secret

pytestmark = pytest.mark.integration

KEYED = "https://eth-mainnet.example.com/v2/SECRETKEY"


@pytest.fixture
def secret(moto_endpoint):
    """Creates a uniquely named secret with the given value; returns its name."""
    client = boto3.client("secretsmanager")

    def create(value: str) -> str:
        name = f"blockhook/rpc/{uuid.uuid4().hex[:10]}"
        client.create_secret(Name=name, SecretString=value)
        return name

    return create


def chains_env(*entries: dict) -> dict[str, str]:
    return {"BLOCKHOOK_CHAINS": json.dumps({"chains": list(entries)})}


def test_json_list_secret_gives_the_urls_in_order(secret) -> None:
    name = secret(json.dumps([KEYED, "https://backup.example.com"]))
    (chain,) = load_chains(chains_env({"chain_id": 1, "rpc_url_secret": name, "confirmations": 12}))
    assert chain.rpc_urls == [KEYED, "https://backup.example.com"]
    assert chain.confirmations == 12


def test_plain_url_secret_and_arn(secret) -> None:
    name = secret(f"  {KEYED}\n")
    arn = boto3.client("secretsmanager").describe_secret(SecretId=name)["ARN"]
    assert rpc_urls_from_secret(arn) == [KEYED]
    chains = load_chains(
        chains_env({"chain_id": 1, "rpc_url_secret": arn}, {"chain_id": 10, "rpc_urls": ["https://op.example.com"]})
    )
    assert [c.rpc_urls for c in chains] == [[KEYED], ["https://op.example.com"]]


def test_missing_secret_is_a_clear_registry_error(moto_endpoint) -> None:
    with pytest.raises(ChainRegistryError, match=r"chains\.0: secret 'blockhook/none': cannot read it \(ResourceNotFound"):
        load_chains(chains_env({"chain_id": 1, "rpc_url_secret": "blockhook/none"}))


def test_secret_urls_are_validated_without_echoing_keys(secret) -> None:
    name = secret(json.dumps(["eth-mainnet.example.com/v2/SECRETKEY"]))
    with pytest.raises(ChainRegistryError, match="not an http") as refused:
        load_chains(chains_env({"chain_id": 1, "rpc_url_secret": name}))
    assert "SECRETKEY" not in str(refused.value)


@pytest.mark.parametrize("value", ["[", "[]", '[1, "https://a.example.com"]', '["", "https://a.example.com"]'])
def test_malformed_secret_values_are_refused_without_echo(value: str) -> None:
    with pytest.raises(RpcSecretError) as refused:
        parse_rpc_secret(value, "blockhook/rpc/x")
    assert "blockhook/rpc/x" in str(refused.value)
    assert "a.example.com" not in str(refused.value)


def test_urls_and_secret_together_are_refused() -> None:
    with pytest.raises(ChainRegistryError, match="not both"):
        load_chains(
            chains_env({"chain_id": 1, "rpc_urls": ["https://a.example.com"], "rpc_url_secret": "x"}),
            rpc_secret=lambda name: pytest.fail("must not be read"),
        )


def test_injected_reader_is_used_and_nothing_else_is_read() -> None:
    read: list[str] = []

    def reader(name: str) -> list[str]:
        read.append(name)
        return ["https://from-reader.example.com"]

    chains = load_chains(chains_env({"chain_id": 5, "rpc_url_secret": "n"}, {"chain_id": 6, "rpc_urls": [KEYED]}), rpc_secret=reader)
    assert read == ["n"]
    assert [c.rpc_urls for c in chains] == [["https://from-reader.example.com"], [KEYED]]
