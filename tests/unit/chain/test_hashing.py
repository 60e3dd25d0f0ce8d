"""blockhook.chain.hashing against eth_utils, the reference it replaces on the functions' import path."""

from __future__ import annotations

import eth_utils
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockhook.chain.hashing import is_checksum_address, keccak_text, to_checksum_address

addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())


def test_keccak_of_an_event_signature_is_its_topic0() -> None:
    # The ERC-20 Transfer topic every explorer shows.
    assert keccak_text("Transfer(address,address,uint256)").hex() == (
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )


@given(st.text(max_size=80))
def test_keccak_text_matches_eth_utils(text: str) -> None:
    assert keccak_text(text) == eth_utils.keccak(text=text)


def test_eip55_examples() -> None:
    # From EIP-55's own test cases.
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert to_checksum_address(address.lower()) == address
        assert is_checksum_address(address)


@given(addresses, st.integers(min_value=2, max_value=41))
def test_checksum_matches_eth_utils(address: str, flip: int) -> None:
    checksummed = to_checksum_address(address)
    assert checksummed == eth_utils.to_checksum_address(address)
    swapped = checksummed[:flip] + checksummed[flip].swapcase() + checksummed[flip + 1 :]
    for candidate in (checksummed, swapped, address, address.upper(), checksummed[2:], "0X" + checksummed[2:]):
        assert is_checksum_address(candidate) == eth_utils.is_checksum_address(candidate), candidate


@pytest.mark.parametrize("value", (None, 42, b"0x" + b"0" * 40, "0x" + "0" * 39, "0x" + "g" * 40, "0x" + "a" * 40 + "\n"))
def test_not_an_address(value: object) -> None:
    assert is_checksum_address(value) is False
    assert eth_utils.is_checksum_address(value) is False
