"""The app's inputs: the `chains` context and the folders it deploys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockhook.chain.registry import load_chains
from infra.blockhook_infra.chains import (
    MAX_CHAINS_JSON_BYTES,
    ChainsContextError,
    chains_env_value,
    placeholder_hosts,
)
from infra.blockhook_infra.paths import MissingBuildError, deps_layer_dir, function_dir, shared_layer_dir

REPO_ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "chain_id": 137,
    "name": "polygon",
    "rpc_urls": ["https://polygon.example.com/v2/SECRETKEY", "https://backup.example.com"],
    "confirmations": 5,
    "poll_interval": 2,
    "max_blocks_per_batch": 20,
}


def test_list_json_string_and_document_give_the_same_env_value() -> None:
    from_list = chains_env_value([BASE])
    from_cli = chains_env_value(json.dumps([BASE]))  # -c chains='[...]' arrives as a string
    from_document = chains_env_value({"chains": [BASE]})
    assert from_list == from_cli == from_document
    assert json.loads(from_list) == {"chains": [BASE]}


def test_env_value_is_what_the_functions_parse() -> None:
    (chain,) = load_chains({"BLOCKHOOK_CHAINS": chains_env_value([BASE])})
    assert (chain.chain_id, chain.rpc_urls, chain.confirmations) == (137, BASE["rpc_urls"], 5)


def test_cdk_json_default_is_ethereum_with_a_placeholder_node() -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    value = chains_env_value(context["chains"])
    assert [c.chain_id for c in load_chains({"BLOCKHOOK_CHAINS": value})] == [1]
    assert placeholder_hosts(value) == ["ethereum-rpc.replace-me.invalid"]
    assert "override" in context["_comment"]


def test_real_hosts_are_not_placeholders() -> None:
    assert placeholder_hosts(chains_env_value([BASE])) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "not set"),
        ("[{", "not valid JSON"),
        ([], "non-empty list"),
        ({"chain_id": 1}, "non-empty list"),
        ([{**BASE, "rpc_urls": []}], "rpc_urls"),
        ([BASE, {**BASE, "chain_id": 10, "confirmations": -1}], "confirmations"),
        ([{**BASE, "rpc": "x"}], "rpc"),
        ([BASE, {**BASE, "name": "again"}], "more than once"),
        ([{**BASE, "rpc_urls": ["polygon.example.com"]}], "not an http"),
    ],
)
def test_bad_context_is_refused_clearly(raw, message: str) -> None:
    with pytest.raises(ChainsContextError, match=message) as refused:
        chains_env_value(raw)
    assert "SECRETKEY" not in str(refused.value)  # RPC URLs may carry API keys


def test_env_value_too_large_for_lambda() -> None:
    many = [{**BASE, "chain_id": i, "rpc_urls": [f"https://{'x' * 200}.example.com"]} for i in range(1, 20)]
    with pytest.raises(ChainsContextError, match=str(MAX_CHAINS_JSON_BYTES)):
        chains_env_value(many)


def test_missing_dependency_layer_names_make_layers(tmp_path: Path) -> None:
    with pytest.raises(MissingBuildError, match="make layers"):
        deps_layer_dir(tmp_path)
    (tmp_path / "build" / "layers" / "deps" / "python").mkdir(parents=True)
    assert deps_layer_dir(tmp_path) == tmp_path / "build" / "layers" / "deps"


def test_missing_shared_layer_and_function(tmp_path: Path) -> None:
    with pytest.raises(MissingBuildError, match="shared layer"):
        shared_layer_dir(tmp_path)
    with pytest.raises(MissingBuildError, match="'api'"):
        function_dir("api", tmp_path)


def test_real_folders_resolve_from_the_repo_root() -> None:
    assert shared_layer_dir() == REPO_ROOT / "layers" / "shared"
    assert function_dir("matcher") == REPO_ROOT / "functions" / "matcher"


def test_cdk_json_sets_every_recommended_feature_flag_of_the_installed_cdk() -> None:
    """The flags `cdk init` writes for this aws-cdk-lib (its recommended-feature-flags.json), restricting the
    VPC's default security group among them: a new CDK version's recommendations show up here as a failure."""
    import tarfile

    import aws_cdk

    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        recommended = json.load(archive.extractfile("package/recommended-feature-flags.json"))
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert {flag: context.get(flag) for flag in recommended} == recommended
    assert context["@aws-cdk/aws-ec2:restrictDefaultSecurityGroup"] is True


def test_the_vpc_default_security_group_is_restricted(resources: dict) -> None:
    (restrict,) = [r for r in resources.values() if r["Type"] == "Custom::VpcRestrictDefaultSG"]
    assert restrict["Properties"]["DefaultSecurityGroupId"]["Fn::GetAtt"][1] == "DefaultSecurityGroup"
