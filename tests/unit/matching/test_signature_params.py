"""signature_params: the parameters of an event signature as written (type, indexed, name)."""

from __future__ import annotations

import pytest

from blockhook.matching.signatures import (
    InvalidSignature,
    SignatureParam,
    canonical_signature,
    signature_params,
)


def test_transfer_params():
    assert signature_params("Transfer(address indexed from, address indexed to, uint value)") == (
        "Transfer",
        (
            SignatureParam("address", True, "from"),
            SignatureParam("address", True, "to"),
            SignatureParam("uint256", False, "value"),
        ),
    )


@pytest.mark.parametrize(
    ("written", "params"),
    [
        ("Paused()", ()),
        ("Paused( )", ()),
        ("Transfer(address,address,uint256)",
         (("address", False, None), ("address", False, None), ("uint256", False, None))),
        ("Transfer(address indexed, address indexed to, uint256)",
         (("address", True, None), ("address", True, "to"), ("uint256", False, None))),
        ("Order((address maker, uint amount) indexed order, uint8 side)",
         (("(address,uint256)", True, "order"), ("uint8", False, "side"))),
        ("Order(tuple(address maker, uint256 amount)[] orders)", (("(address,uint256)[]", False, "orders"),)),
        ("Arrays(uint[2][] indexed grid, byte b, int c)",
         (("uint256[2][]", True, "grid"), ("bytes1", False, "b"), ("int256", False, "c"))),
        ("Ping(string indexed note, bytes data, bool ok)",
         (("string", True, "note"), ("bytes", False, "data"), ("bool", False, "ok"))),
    ],
)
def test_params_as_written(written, params):
    name, parsed = signature_params(written)
    assert name == written.split("(")[0].strip()
    assert parsed == tuple(SignatureParam(*param) for param in params)


@pytest.mark.parametrize(
    "written",
    [
        "Transfer(address indexed from, address indexed to, uint value)",
        "Nested((uint256 a, (bool b, int c)[2] inner) outer, string indexed s)",
        "Fixed(fixed x, ufixed128x18 y)",
    ],
)
def test_params_agree_with_the_canonical_signature(written):
    name, params = signature_params(written)
    assert f"{name}({','.join(param.type for param in params)})" == canonical_signature(written)


def test_a_parameter_named_like_a_type_keyword_is_a_name():
    assert signature_params("E(uint256 tuple, address payable_e)")[1] == (
        SignatureParam("uint256", False, "tuple"),
        SignatureParam("address", False, "payable_e"),
    )


@pytest.mark.parametrize(
    "written",
    ["", "Transfer", "Transfer(address,)", "Transfer(address indexed indexed)", "Order((address indexed a))", None],
)
def test_invalid_signatures_raise(written):
    with pytest.raises(InvalidSignature):
        signature_params(written)
