"""The chain registry: file, inline JSON, a single RPC URL, defaults and errors."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from blockhook.chain.registry import (
    DEFAULT_CONFIRMATIONS,
    ChainConfig,
    ChainRegistryError,
    UnknownChainError,
    chain_by_id,
    load_chains,
)

SECRET = "s3cr3t-api-key"


def no_node(url: str) -> int:
    raise AssertionError(f"the node must not be asked, got {url}")


def write_chains(tmp_path, document) -> str:
    path = tmp_path / "chains.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_nothing_configured_gives_no_chains():
    assert load_chains({}, chain_id_of=no_node) == []
    assert load_chains({"BLOCKHOOK_CHAINS_FILE": "", "BLOCKHOOK_RPC_URL": "  "}, chain_id_of=no_node) == []


def test_file_with_defaults_per_chain(tmp_path):
    path = write_chains(
        tmp_path,
        {
            "chains": [
                {
                    "chain_id": 1,
                    "name": "ethereum",
                    "rpc_urls": ["https://eth.example/v2/key", "http://10.0.0.1:8545"],
                },
                {"chain_id": 137, "rpc_urls": ["https://polygon.example"], "poll_interval": 2.5},
                {"chain_id": 999, "rpc_urls": ["https://unknown.example"], "max_blocks_per_batch": 100},
                {"chain_id": 56, "rpc_urls": ["https://bsc.example"], "confirmations": 3, "start_block": 100},
            ]
        },
    )
    chains = load_chains({"BLOCKHOOK_CHAINS_FILE": path}, chain_id_of=no_node)

    assert [c.chain_id for c in chains] == [1, 137, 999, 56]
    eth, polygon, unknown, bsc = chains
    assert eth.name == "ethereum" and eth.rpc_urls == ["https://eth.example/v2/key", "http://10.0.0.1:8545"]
    assert (eth.confirmations, polygon.confirmations, unknown.confirmations) == (12, 128, 0)
    assert bsc.confirmations == 3  # an explicit value beats the default
    assert bsc.start_block == 100 and eth.start_block is None
    assert (eth.poll_interval, polygon.poll_interval) == (1.0, 2.5)
    assert (eth.max_blocks_per_batch, unknown.max_blocks_per_batch) == (25, 100)
    assert eth.max_requests_in_flight == 4


def test_default_confirmations_also_apply_in_code():
    assert ChainConfig(chain_id=1, rpc_urls=["https://x.example"]).confirmations == DEFAULT_CONFIRMATIONS[1]
    assert ChainConfig(chain_id=1, rpc_urls=["https://x.example"], confirmations=0).confirmations == 0


def test_file_wins_over_inline_and_rpc_url(tmp_path):
    path = write_chains(tmp_path, {"chains": [{"chain_id": 10, "rpc_urls": ["https://op.example"]}]})
    env = {
        "BLOCKHOOK_CHAINS_FILE": path,
        "BLOCKHOOK_CHAINS": json.dumps({"chains": [{"chain_id": 20, "rpc_urls": ["https://b.example"]}]}),
        "BLOCKHOOK_RPC_URL": "http://127.0.0.1:1",
    }
    assert [c.chain_id for c in load_chains(env, chain_id_of=no_node)] == [10]


def test_inline_json_wins_over_rpc_url():
    env = {
        "BLOCKHOOK_CHAINS": json.dumps(
            {"chains": [{"chain_id": 8453, "rpc_urls": ["https://base.example"]}]}
        ),
        "BLOCKHOOK_RPC_URL": "http://127.0.0.1:1",
    }
    [base] = load_chains(env, chain_id_of=no_node)
    assert (base.chain_id, base.confirmations, base.rpc_urls) == (8453, 0, ["https://base.example"])


def test_rpc_url_asks_the_node_for_its_chain_id():
    asked = []

    def chain_id_of(url: str) -> int:
        asked.append(url)
        return 137

    [chain] = load_chains({"BLOCKHOOK_RPC_URL": "https://polygon.example/key"}, chain_id_of=chain_id_of)
    assert asked == ["https://polygon.example/key"]
    assert (chain.chain_id, chain.rpc_urls, chain.confirmations) == (
        137,
        ["https://polygon.example/key"],
        128,
    )


def test_rpc_url_with_a_bad_chain_id_answer():
    with pytest.raises(ChainRegistryError, match="chain id 0"):
        load_chains({"BLOCKHOOK_RPC_URL": "http://127.0.0.1:8545"}, chain_id_of=lambda url: 0)


def test_rpc_url_must_be_http():
    with pytest.raises(ChainRegistryError, match="not an http"):
        load_chains({"BLOCKHOOK_RPC_URL": "ws://127.0.0.1:8545"}, chain_id_of=no_node)


def test_poll_interval_override(tmp_path):
    path = write_chains(
        tmp_path,
        {
            "chains": [
                {"chain_id": 1, "rpc_urls": ["https://a.example"], "poll_interval": 12},
                {"chain_id": 2, "rpc_urls": ["https://b.example"]},
            ]
        },
    )
    chains = load_chains(
        {"BLOCKHOOK_CHAINS_FILE": path, "BLOCKHOOK_POLL_INTERVAL": "0.25"}, chain_id_of=no_node
    )
    assert [c.poll_interval for c in chains] == [0.25, 0.25]
    [single] = load_chains(
        {"BLOCKHOOK_RPC_URL": "http://127.0.0.1:8545", "BLOCKHOOK_POLL_INTERVAL": "3"},
        chain_id_of=lambda url: 31337,
    )
    assert single.poll_interval == 3.0


@pytest.mark.parametrize("value", ["fast", "0", "-1", "nan", "inf"])
def test_bad_poll_interval_override(value):
    env = {"BLOCKHOOK_RPC_URL": "http://127.0.0.1:8545", "BLOCKHOOK_POLL_INTERVAL": value}
    with pytest.raises(ChainRegistryError, match="BLOCKHOOK_POLL_INTERVAL"):
        load_chains(env, chain_id_of=lambda url: 31337)


def test_duplicate_chain_ids(tmp_path):
    path = write_chains(
        tmp_path,
        {
            "chains": [
                {"chain_id": 5, "rpc_urls": ["https://a.example"]},
                {"chain_id": 5, "rpc_urls": ["https://b.example"]},
            ]
        },
    )
    with pytest.raises(ChainRegistryError, match="more than once: 5"):
        load_chains({"BLOCKHOOK_CHAINS_FILE": path}, chain_id_of=no_node)


def test_missing_file_names_the_file(tmp_path):
    path = str(tmp_path / "nope.json")
    with pytest.raises(ChainRegistryError, match="nope.json"):
        load_chains({"BLOCKHOOK_CHAINS_FILE": path}, chain_id_of=no_node)


INVALID_DOCUMENTS = {
    "not json": ("{chains: [", "not valid JSON"),
    "a list": (json.dumps([{"chain_id": 1, "rpc_urls": ["https://a.example"]}]), "expected a JSON object"),
    "no chains key": (json.dumps({"chain": []}), "chains"),
    "empty chains": (json.dumps({"chains": []}), "defines no chains"),
    "unknown field": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "rpc": "x"}]}),
        "chains.0.rpc",
    ),
    "zero chain id": (
        json.dumps({"chains": [{"chain_id": 0, "rpc_urls": ["https://a.example"]}]}),
        "chains.0.chain_id",
    ),
    "no urls": (json.dumps({"chains": [{"chain_id": 1, "rpc_urls": []}]}), "chains.0.rpc_urls"),
    "missing urls": (json.dumps({"chains": [{"chain_id": 1}]}), "chains.0.rpc_urls"),
    "ws url": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["wss://a.example/" + SECRET]}]}),
        "rpc_urls[0]",
    ),
    "negative confirmations": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "confirmations": -1}]}),
        "confirmations",
    ),
    "batch too big": (
        json.dumps(
            {"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "max_blocks_per_batch": 501}]}
        ),
        "max_blocks_per_batch",
    ),
    "batch zero": (
        json.dumps(
            {"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "max_blocks_per_batch": 0}]}
        ),
        "max_blocks_per_batch",
    ),
    "no request in flight": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "max_requests_in_flight": 0}]}),
        "max_requests_in_flight",
    ),
    "more requests in flight than connections kept": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "max_requests_in_flight": 17}]}),
        "max_requests_in_flight",
    ),
    "poll interval zero": (
        json.dumps({"chains": [{"chain_id": 1, "rpc_urls": ["https://a.example"], "poll_interval": 0}]}),
        "poll_interval",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID_DOCUMENTS))
def test_invalid_file_names_file_and_problem(tmp_path, name):
    document, expected = INVALID_DOCUMENTS[name]
    path = write_chains(tmp_path, document)
    with pytest.raises(ChainRegistryError) as caught:
        load_chains({"BLOCKHOOK_CHAINS_FILE": path}, chain_id_of=no_node)
    message = str(caught.value)
    assert path in message and expected in message


@pytest.mark.parametrize("name", sorted(INVALID_DOCUMENTS))
def test_invalid_inline_json_names_the_variable(name):
    document, expected = INVALID_DOCUMENTS[name]
    with pytest.raises(ChainRegistryError) as caught:
        load_chains({"BLOCKHOOK_CHAINS": document}, chain_id_of=no_node)
    assert "BLOCKHOOK_CHAINS" in str(caught.value) and expected in str(caught.value)


def test_errors_never_show_url_secrets():
    document = json.dumps(
        {
            "chains": [
                {"chain_id": 1, "rpc_urls": [f"https://a.example/v2/{SECRET}", f"ftp://b.example/{SECRET}"]}
            ]
        }
    )
    with pytest.raises(ChainRegistryError) as caught:
        load_chains({"BLOCKHOOK_CHAINS": document}, chain_id_of=no_node)
    assert "rpc_urls[1] (ftp://b.example)" in str(caught.value)
    assert SECRET not in str(caught.value)

    # a whole-entry error (missing field) must not echo the entry with its URLs either
    document = json.dumps({"chains": [{"rpc_urls": [f"https://a.example/?key={SECRET}"]}]})
    with pytest.raises(ChainRegistryError) as caught:
        load_chains({"BLOCKHOOK_CHAINS": document}, chain_id_of=no_node)
    assert "chain_id" in str(caught.value) and SECRET not in str(caught.value)


def test_chain_config_validates_in_code_too():
    with pytest.raises(ValidationError):
        ChainConfig(chain_id=1, rpc_urls=["https://a.example"], surprise=True)


def test_chain_by_id():
    chains = [
        ChainConfig(chain_id=1, rpc_urls=["https://a.example"]),
        ChainConfig(chain_id=10, rpc_urls=["https://b.example"]),
    ]
    assert chain_by_id(chains, 10) is chains[1]
    with pytest.raises(KeyError) as caught:
        chain_by_id(chains, 5)
    assert isinstance(caught.value, UnknownChainError)
    assert str(caught.value) == "chain 5 is not configured (configured chains: 1, 10)"
