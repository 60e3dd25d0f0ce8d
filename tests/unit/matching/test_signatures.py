"""Event signatures as users write them, to canonical form and topic 0."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from blockhook.matching.signatures import InvalidSignature, canonical_signature, topic0

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL_TOPIC = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
TRANSFER_SINGLE_TOPIC = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
TRANSFER_BATCH_TOPIC = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"


@pytest.mark.parametrize(
    "written",
    [
        "Transfer(address,address,uint256)",
        "Transfer(address indexed from, address indexed to, uint256 value)",
        "Transfer(address indexed, address indexed, uint256)",
        "Transfer(address from, address to, uint256 value)",
        "  Transfer ( address  indexed  from ,address indexed to,uint256 value )  ",
        "Transfer(address indexed from, address indexed to, uint value)",  # uint is uint256
    ],
)
def test_transfer_forms_give_the_transfer_topic(written):
    assert canonical_signature(written) == "Transfer(address,address,uint256)"
    assert topic0(written) == TRANSFER_TOPIC


def test_well_known_token_topics():
    assert topic0("Approval(address indexed owner, address indexed spender, uint256 value)") == APPROVAL_TOPIC
    assert (
        topic0("TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, "
               "uint256 value)")
        == TRANSFER_SINGLE_TOPIC
    )
    assert (
        topic0("TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, "
               "uint256[] values)")
        == TRANSFER_BATCH_TOPIC
    )


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Paused()", "Paused()"),
        ("Paused( )", "Paused()"),
        ("Ping(bytes32 indexed id, bytes data, string note, bool ok)", "Ping(bytes32,bytes,string,bool)"),
        ("Sizes(uint8 a, int128 b, int c, bytes1 d, address payable_e)", "Sizes(uint8,int128,int256,bytes1,address)"),
        ("Arrays(uint256[] a, address[3] b, uint[2][] c)", "Arrays(uint256[],address[3],uint256[2][])"),
        ("Order((address,uint256) order)", "Order((address,uint256))"),
        ("Order((address maker, uint256 amount) indexed order, uint8 side)", "Order((address,uint256),uint8)"),
        ("Order(tuple(address maker, uint256 amount) order)", "Order((address,uint256))"),
        ("Orders((address, uint256)[] orders)", "Orders((address,uint256)[])"),
        ("Nested((uint256 a, (bool b, int c)[2] inner) outer)", "Nested((uint256,(bool,int256)[2]))"),
        ("Fixed(fixed x, ufixed128x18 y)", "Fixed(fixed128x18,ufixed128x18)"),
        ("_weird$Name(address)", "_weird$Name(address)"),
    ],
)
def test_canonical_forms(written, canonical):
    assert canonical_signature(written) == canonical
    assert topic0(written) == "0x" + keccak(text=canonical).hex()


def test_tuple_component_names_do_not_change_the_topic():
    assert topic0("Order((address maker, uint256 amount) order)") == topic0("Order((address,uint256))")


def test_raw_topic_passes_through_lowercased():
    assert topic0(TRANSFER_TOPIC) == TRANSFER_TOPIC
    assert topic0(TRANSFER_TOPIC.upper().replace("0X", "0x")) == TRANSFER_TOPIC


@pytest.mark.parametrize(
    "written",
    [
        "",
        "   ",
        "Transfer",
        "Transfer(",
        "Transfer)",
        "(address,address,uint256)",
        "Transfer(address,)",
        "Transfer(,address)",
        "Transfer(,)",
        "Transfer(address))",
        "Transfer((address)",
        "Transfer(address) extra",
        "Transfer(address,address,uint256);",
        "Trans fer(address)",
        "1Transfer(address)",
        "Transfer(address from to)",
        "Transfer(notatype)",
        "Transfer(uint7)",
        "Transfer(uint264)",
        "Transfer(uint08)",
        "Transfer(bytes0)",
        "Transfer(bytes33)",
        "Transfer(fixed128x81)",
        "Transfer(address[] calldata x)",
        "Transfer(address[x])",
        "Transfer(address indexed indexed)",
        "Order((address maker indexed, uint256))",  # `indexed` belongs to event parameters only
        "Transfer(address, address, uint256",
        "0x" + "dd" * 31,  # 31 bytes: not a topic, and not a signature
        "0x" + "dd" * 33,
        "Deep(" + "(" * 40 + "uint256" + ")" * 40 + ")",
    ],
)
def test_invalid_signatures_raise_invalid_signature(written):
    with pytest.raises(InvalidSignature):
        topic0(written)


@pytest.mark.parametrize("value", [None, 42, b"Transfer(address)"])
def test_non_strings_raise_invalid_signature(value):
    with pytest.raises(InvalidSignature):
        canonical_signature(value)


def test_invalid_signature_is_a_value_error():
    # The API turns ValueError from a validator into a 422.
    assert issubclass(InvalidSignature, ValueError)
