"""Real compiled contracts from npm (OpenZeppelin 4.9.6, Uniswap V2 core and periphery, WETH9), deployed on Anvil.

No compiler here: the packages ship their build artifacts (ABI and creation bytecode)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from tests.support.contracts import rpc, send_tx

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
ARTIFACTS = {
    "ERC20PresetMinterPauser": "@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json",
    "ERC721PresetMinterPauserAutoId": "@openzeppelin/contracts/build/contracts/ERC721PresetMinterPauserAutoId.json",
    "ERC1155PresetMinterPauser": "@openzeppelin/contracts/build/contracts/ERC1155PresetMinterPauser.json",
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
}


@cache
def _artifact(name: str) -> dict:
    return json.loads((NODE_MODULES / ARTIFACTS[name]).read_text(encoding="utf-8"))


def _constructor_types(name: str) -> list[str]:
    abi = _artifact(name)["abi"]
    abi = json.loads(abi) if isinstance(abi, str) else abi
    for entry in abi:
        if entry.get("type") == "constructor":
            return [argument["type"] for argument in entry["inputs"]]
    return []


def creation_code(name: str, *args: Any) -> str:
    artifact = _artifact(name)
    bytecode = artifact["bytecode"]
    if isinstance(bytecode, dict):
        bytecode = bytecode["object"]
    return "0x" + bytecode.removeprefix("0x") + encode(_constructor_types(name), list(args)).hex()


@dataclass(frozen=True)
class Deployed:
    url: str
    name: str
    address: str

    def calldata(self, signature: str, *args: Any) -> str:
        types = signature[signature.index("(") + 1 : -1]
        arg_types = [t for t in _split_types(types)] if types else []
        return "0x" + function_signature_to_4byte_selector(signature).hex() + encode(arg_types, list(args)).hex()

    def send(self, sender: str, signature: str, *args: Any, value: int = 0, gas: int | None = None) -> dict:
        """A transaction calling `signature` (e.g. "withdraw(uint256)"); the receipt once mined."""
        return send_tx(self.url, sender, self.address, value, self.calldata(signature, *args), gas=gas)

    def call(self, signature: str, returns: list[str], *args: Any) -> tuple:
        answer = rpc(self.url, "eth_call", [{"to": self.address, "data": self.calldata(signature, *args)}, "latest"])
        return decode(returns, bytes.fromhex(answer.removeprefix("0x")))


def deploy(url: str, sender: str, name: str, *args: Any) -> Deployed:
    receipt = send_tx(url, sender, None, data=creation_code(name, *args), gas=8_000_000)
    if receipt["status"] != "0x1":
        raise RuntimeError(f"deploying {name} failed: {receipt}")
    return Deployed(url, name, receipt["contractAddress"].lower())


def _split_types(types: str) -> list[str]:
    """Top-level comma split of an ABI type list ("address,(uint256,bytes)[]" keeps the tuple whole)."""
    parts, depth, current = [], 0, ""
    for char in types:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    parts.append(current)
    return parts
