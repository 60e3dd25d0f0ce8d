"""Monitor conditions: CEL over an event, with exact uint256 comparisons of value and token_id, and exact
int256/uint256 comparisons of decoded integer args."""

from __future__ import annotations

import json
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.matching.conditions import (
    MAX_CONDITION_LENGTH,
    CompiledCondition,
    ConditionError,
    cached_condition,
    compile_condition,
)
from tests.support import builders

MAX = 2**256 - 1
MIN = -(2**255)
BOUNDARIES = (0, 1, 2**64 - 1, 2**64, 2**128, MAX)
ARG_BOUNDARIES = (MIN, -1, 0, 1, 2**63, 2**255, MAX)
OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# The reversed form `b op a` states the same as `a REVERSED[op] b`.
REVERSED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20
TOKEN = "0x" + "70" * 20
CHECKSUMMED = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector
HASH = "0x" + "ee" * 32


# Where every event of these tests is: a block of mainnet's era, the fourth transaction in it.
AT = {"chain_id": 1, "block_number": 21_000_000, "block_hash": HASH, "tx_hash": HASH, "tx_index": 3}


def common(kind: str, **fields) -> dict:
    return builders.event(kind, **AT, **fields)


def native(value: int, **fields) -> dict:
    return builders.native_transfer(ALICE, BOB, value=str(value), **AT, **fields)


def transaction(value: int = 0, to: str | None = BOB, **fields) -> dict:
    return builders.transaction(ALICE, to, value=str(value), selector="0xa9059cbb", **AT, **fields)


def erc20(value: int, to: str = BOB, **fields) -> dict:
    return builders.erc20(TOKEN, ALICE, to, value=str(value), **AT, **fields)


def erc721(token_id: int) -> dict:
    return builders.erc721(TOKEN, ALICE, BOB, token_id=str(token_id), **AT)


def erc1155(token_id: int, value: int) -> dict:
    return builders.erc1155(TOKEN, ALICE, ALICE, BOB, token_id=str(token_id), value=str(value), **AT)


def log(**fields) -> dict:
    return builders.log(TOKEN, [HASH, builders.address_topic(ALICE)], data="0x" + "00" * 32, log_index=4, **AT,
                        **fields)


def decoded(**args) -> dict:
    """A log whose args a signature decoded; integers are decimal strings, as log_args gives them."""
    return log(args={
        name: str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        for name, value in args.items()
    })


def holds(source: str, event: dict) -> bool:
    return compile_condition(source).evaluate(event)


def refused(source: str) -> str:
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    return str(caught.value)


# --- amounts: every operator, both orders, at the boundaries ------------------------------------------


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("a", BOUNDARIES)
@pytest.mark.parametrize("b", BOUNDARIES)
def test_value_against_literal_at_boundaries(op, a, b):
    event = native(a)
    assert holds(f"event.value {op} {b}", event) is OPERATORS[op](a, b)
    assert holds(f"{b} {op} event.value", event) is OPERATORS[op](b, a)


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("a", BOUNDARIES)
@pytest.mark.parametrize("b", (0, 2**64, MAX))
def test_token_id_against_literal_at_boundaries(op, a, b):
    assert holds(f"event.token_id {op} {b}", erc721(a)) is OPERATORS[op](a, b)
    assert holds(f"{b} {op} event.token_id", erc721(a)) is OPERATORS[op](b, a)


@pytest.mark.parametrize(
    "source, holds_for_1e21",
    [
        ("event.value >= 1000000000000000000000", True),
        ("event.value > 1000000000000000000000", False),
        ("event.value < 5", False),
        ("event.value == 0", False),
        ("event.value != 12345678901234567890123456789", True),
        ("1000 <= event.value", True),
        ("event.value == 0x3635c9adc5dea00000", True),  # 10**21 in hex
        ("event.value == 0x3635C9ADC5DEA00000", True),
        ("event.value == 1000000000000000000000u", True),
        ("event.value == 0x3635c9adc5dea00000u", True),
        ("event.value == 1e21", True),  # a float literal that is a whole number means that number, exactly
        ("event.value == 1.0e21", True),
        ("event.value == 10.5e20", False),
        ("event.value >= 999999999999999999999.0", True),
        ("event.value > 0e5", True),
        ('event["value"] == 1000000000000000000000', True),
        ("event['value'] > 1", True),
        ('event[r"value"] > 1', True),
        ('event["""value"""] > 1', True),
        ("event.value == 0001000000000000000000000", True),  # leading zeros: CEL reads them as decimal
        ("event.value in [1, 1000000000000000000000]", True),
        ("event.value in [0x1, 1e21, 7u,]", True),
        ("event.value in [1, 2]", False),
        ("event.value in []", False),
        ("has(event.value)", True),
        ("!has(event.value)", False),
        ("has(event.token_id)", False),
    ],
)
def test_literal_forms(source, holds_for_1e21):
    assert holds(source, native(10**21)) is holds_for_1e21


def test_literal_and_u_suffix_beyond_64_bits_compare_exactly():
    big = 2**200 + 12345
    assert holds(f"event.value == {big}u", native(big))
    assert holds(f"event.value == {hex(big)}", native(big))
    assert not holds(f"event.value == {hex(big + 1)}", native(big))
    assert holds(f"event.value < {hex(MAX)}", native(big))


@pytest.mark.parametrize(
    "source, expected",
    [
        ("event.value > event.token_id", True),
        ("event.token_id < event.value", True),
        ("event.value == event.token_id", False),
        ("event.value != event['token_id']", True),
        ("event.token_id >= event.value", False),
    ],
)
def test_amount_against_amount(source, expected):
    assert holds(source, erc1155(token_id=2**64, value=2**64 + 1)) is expected


def test_amount_comparison_inside_larger_expressions():
    event = native(10**21)
    assert holds("(event.value > 5) == true", event)
    assert holds("event.value < 5 == false", event)
    assert holds("[event.value > 5][0]", event)
    assert holds("event.kind == 'native_transfer' ? event.value > 5 : false", event)
    assert holds("{event.value > 5: true}[true]", event)
    assert not holds("!(event.value > 5)", event)


# --- integer args: int256 and uint256, every operator, both orders, at the boundaries ------------------


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("a", ARG_BOUNDARIES)
@pytest.mark.parametrize("b", ARG_BOUNDARIES)
def test_arg_against_literal_at_boundaries(op, a, b):
    event = decoded(amount=a)
    assert holds(f"event.args.amount {op} {b}", event) is OPERATORS[op](a, b)
    assert holds(f"{b} {op} event.args.amount", event) is OPERATORS[op](b, a)
    assert holds(f'event.args["amount"] {op} {b}', event) is OPERATORS[op](a, b)


@pytest.mark.parametrize("op", OPERATORS)
@pytest.mark.parametrize("a", ARG_BOUNDARIES)
@pytest.mark.parametrize("b", ARG_BOUNDARIES)
def test_arg_against_arg_at_boundaries(op, a, b):
    assert holds(f"event.args.a {op} event.args.b", decoded(a=a, b=b)) is OPERATORS[op](a, b)


@pytest.mark.parametrize("a", ARG_BOUNDARIES)
def test_arg_in_list_at_boundaries(a):
    others = [b for b in ARG_BOUNDARIES if b != a]
    assert holds(f"event.args.amount in [{', '.join(map(str, ARG_BOUNDARIES))}]", decoded(amount=a))
    assert not holds(f"event.args.amount in [{', '.join(map(str, others))}]", decoded(amount=a))
    assert holds(f"!(event.args.amount in [{', '.join(map(str, others))}])", decoded(amount=a))
    assert not holds("event.args.amount in []", decoded(amount=a))


@pytest.mark.parametrize(
    "source, holds_for_minus_1e21",
    [
        ("event.args.amount == -1000000000000000000000", True),
        ("event.args.amount < -999999999999999999999", True),
        ("event.args.amount > -1000000000000000000000", False),
        ("event.args.amount == -0x3635c9adc5dea00000", True),
        ("event.args.amount == -1e21", True),
        ("event.args.amount == - 1e21", True),
        ("event.args.amount < -0", True),
        ("event.args.amount < 0u", True),
        ("-1e21 == event.args.amount", True),
        ("0 > event.args.amount", True),
        ("event['args']['amount'] == -1e21", True),
        ("event['args'].amount == -1e21", True),
        ("event.args[r'amount'] < 5", True),
        ("event.args.amount in [0, -1e21,]", True),
        ("event.args.amount in [-1, 1e21]", False),
        ("(event.args.amount < 0) == true", True),
        ("event.args.amount < 0 == true", True),
        ("[event.args.amount < 0][0]", True),
        ("event.kind == 'log' ? event.args.amount < 0 : false", True),
        ("has(event.args.amount) && event.args.amount < 0", True),
        ("has(event.args.other) || event.args.amount < 0", True),
    ],
)
def test_arg_literal_forms(source, holds_for_minus_1e21):
    assert holds(source, decoded(amount=-(10**21))) is holds_for_minus_1e21


def test_one_index_into_an_integer_list_arg():
    event = decoded(ids=["1", str(2**255), "-3"], nested=[["7"]])
    assert holds("event.args.ids[1] == 57896044618658097711785492504343953926634992332820282019728792003956564819968",
                 event)
    assert holds("event.args.ids[2] < event.args.ids[0] && event.args.ids[0x1] > 2u", event)
    assert holds("event.args.ids[0u] in [1, 2]", event)
    assert holds("0 > event.args.ids[2]", event)
    # Out of range: false, with the path named.
    condition = compile_condition("event.args.ids[3] > 0")
    assert condition.evaluate(event) is False
    assert "args.ids[3]" in condition.last_error
    # Deeper than one index is plain CEL: a decimal string against an int is an error, so false.
    assert not holds("event.args.nested[0][0] == 7", event)
    assert holds("event.args.nested[0][0] == '7'", event)


def test_arg_amount_beyond_64_bits_and_ints_handed_directly():
    big = 2**200 + 12345
    assert holds(f"event.args.value == {big}", decoded(value=big))
    assert holds(f"event.args.value > {hex(big - 1)}", decoded(value=big))
    # log_args gives strings, but a Python int is read the same (bool is not an integer).
    assert holds(f"event.args.value == {big}", log(args={"value": big}))
    assert not holds("event.args.value == 1", log(args={"value": True}))


@pytest.mark.parametrize(
    "args",
    [
        {"value": "0x" + "ab" * 20},  # an address
        {"value": True},
        {"value": "1.5"},  # a fixed-point arg
        {"value": " 5"},
        {"value": "5_000"},
        {"value": "+5"},
        {"value": "\u0665"},  # Python's int() would read this Arabic-Indic digit as 5
        {"value": str(2**256)},
        {"value": str(-(2**255) - 1)},
        {"value": "9" * 100},
        {"value": ["5"]},
        {"value": None},
        {},
    ],
)
def test_arg_that_is_not_an_integer_in_range_makes_its_comparison_false(args):
    condition = compile_condition("event.args.value >= 0")
    assert condition.evaluate(log(args=args)) is False
    assert "args.value" in condition.last_error and "not an integer" in condition.last_error
    # Only that comparison fails: CEL's || and && still decide around it.
    assert holds("event.args.value >= 0 || event.kind == 'log'", log(args=args))
    assert not holds("event.args.value >= 0 && event.kind == 'x'", log(args=args))


@pytest.mark.parametrize(
    "event",
    [log(), native(5), erc721(5), log(args=None), log(args="value"), log(args=[1, 2])],
)
def test_events_without_decoded_args_do_not_match(event):
    condition = compile_condition("event.args.value > 0 || event.args.value <= 0")
    assert condition.evaluate(event) is False
    assert condition.last_error


def test_only_the_args_compared_are_converted():
    condition = compile_condition("event.args.value > 100")
    assert '_int_args["args.value"] > b"' in condition.cel_source
    assert "event" not in condition.cel_source  # the args map itself is not handed to CEL
    assert condition.evaluate(decoded(value=101, other="garbage", to="0x" + "ab" * 20))


def test_other_uses_of_args_stay_plain_cel():
    event = decoded(value=101, to=ALICE, flag=True, name="Hello", ids=["1", "2"])
    for source in (
        f'event.args.to == "{ALICE}"',
        f'event.args.to in ["{BOB}", "{ALICE}"]',
        "event.args.flag",
        "event.args.flag == true && !(event.args.flag == false)",
        "event.args.name.startsWith('He') && size(event.args.name) == 5",
        "event.args.value == '101'",  # decimal strings are canonical: string equality is exact too
        "'2' in event.args.ids",
        "int(event.args.value) + 1 == 102",
        "event.args.value > 100 && int(event.args.value) == 101 && event.args.value == '101'",
        "size(event.args) == 5 && 'value' in event.args",
        "event.args.exists(k, k == 'flag')",
        "has(event.args.value)",
    ):
        assert holds(source, event), source
    # An address string is not lowercased beside an arg (args could be any string): write it lowercase.
    assert not holds(f'event.args.to == "{ALICE.upper().replace("0X", "0x")}"', event)
    # Not a direct comparison with a literal: plain CEL, a decimal string against an int fails.
    for source in ("event.args.value > 5 * 2", "(event.args.value) > 5", "event.args.value + 1 > 5"):
        condition = compile_condition(source)
        assert condition.evaluate(event) is False and condition.last_error, source
        assert "_int_args" not in condition.cel_source


def test_args_compare_exactly_with_each_other_but_not_with_amounts():
    event = decoded(low=-(2**255), high=2**256 - 1)
    assert holds("event.args.low < event.args.high && event.args['high'] != event.args.low", event)
    assert holds("event.args.low == event.args.low", event)
    assert "256-bit amounts" in refused("event.value > event.args.value")
    assert "256-bit amounts" in refused("event.args.value == event.token_id")


@pytest.mark.parametrize(
    "source, expected",
    [
        (f"event.args.value > {2**256}", "more than an integer arg can be (2^256 - 1)"),
        (f"event.args.value > {hex(2**256)}u", "more than an integer arg can be"),
        (f"event.args.value > -{2**255 + 1}", "less than an integer arg can be (-2^255)"),
        (f"-{2**255 + 1} < event.args.value", "less than an integer arg can be"),
        ("event.args.value in [1, -1e78]", "less than an integer arg can be"),
        ("event.args.value > 1e999999999", "more than an integer arg can be"),
        ("event.args.value > -1e999999999", "less than an integer arg can be"),
        ("event.args.value > " + "9" * 3000, "more than an integer arg can be"),
        ("event.args.value > 2.5", "not a whole number"),
        ("event.args.value in [-2.5]", "not a whole number"),
        ("_int_args['args.value'] > 5", "reserved"),
        ("[1].exists(_int_args, _int_args > 0)", "reserved"),
    ],
)
def test_arg_literals_out_of_range_are_refused(source, expected):
    message = refused(source)
    assert expected in message
    assert "line 1, column" in message


def test_arg_literal_refusal_names_the_place():
    assert "-578960446186580977117854...956564819969 at line 2, column 19" in refused(
        f"event.kind == 'log' &&\n  event.args.x >= -{2**255 + 1}"
    )


def test_arg_boundary_literals_are_accepted():
    compile_condition(f"event.args.x >= {MIN} && event.args.x <= {MAX} && event.args.y in [{hex(MAX)}u, -0]")


def test_syntax_errors_beside_args_show_the_users_text():
    message = refused("event.args.value > 1000000000000000000000 &&")
    assert "| event.args.value > 1000000000000000000000 &&" in message and "1:45" in message


def test_an_arg_named_like_the_reserved_variable_is_fine():
    assert holds("event.args._int_args > 5", decoded(_int_args=6))


# --- other fields stay plain CEL -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("event.value > 0 && event.status == 1", True),
        ("event.value > 0 && event.status == 0", False),
        ("event.value > 0 || event.status == 0", True),
        ("event.status == 0 || event.block_number >= 21000000", True),
        ("!(event.status == 0) && event.chain_id == 1", True),
        ("event.gas_used < 30000 && event.tx_index == 3 && event.selector == '0xa9059cbb'", True),
        ("event.block_number > 20999999u", True),  # int and uint compare
        ("event.kind == 'transaction' && event.contract_address == null", True),
        ("event.kind in ['transaction', 'native_transfer'] && event.value >= 1000", True),
        ("event.log_index == null", True),
        ("event.to.startsWith('0xb2') && event.from.endsWith('a1')", True),
        ("event.selector.matches('^0xa9')", True),
        ("event.block_number + 1 == 21000001 && event.block_timestamp > 1700000000", True),
    ],
)
def test_other_fields_combine_with_amounts(source, expected):
    assert holds(source, transaction(value=5000)) is expected


def test_addresses_in_lists_and_case():
    event = erc20(7, to=CHECKSUMMED.lower())
    assert holds(f'event.to in ["{ALICE}", "{CHECKSUMMED.lower()}"]', event)
    assert not holds(f'event.to in ["{ALICE}", "{BOB}"]', event)
    # Literals compared with an address are made lowercase, as the event's addresses are.
    assert holds(f'event.to == "{CHECKSUMMED}"', event)
    assert holds(f"'{CHECKSUMMED}' == event.to", event)
    assert holds(f'event.to in ["{ALICE}", "{CHECKSUMMED}"]', event)
    assert holds(f'event.to == "{CHECKSUMMED.upper().replace("0X", "0x")}"', event)
    assert holds(f'event.from != "{CHECKSUMMED}" && event.token == "{TOKEN.upper().replace("0X", "0x")}"', event)
    assert holds('event.selector == "0xA9059CBB"', transaction())


def test_mixed_case_address_must_pass_its_checksum():
    broken = CHECKSUMMED[:-1] + "e"  # last letter's case flipped
    message = refused(f'event.to == "{broken}"')
    assert "EIP-55" in message and broken in message


def test_strings_that_look_like_hex_elsewhere_are_left_alone():
    # Only literals compared with a hex field are lowercased.
    assert holds('event.kind != "0xABCDEF" && "0xAB" != "0xab"', native(1))


# --- string literals, bytes and comments are never rewritten -----------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        '"event.value > 5"',
        "'event.value >= 1000000000000000000000'",
        '"1000000000000000000000 < event.value"',
        '"""event.value == "5" """',
        "'''it's event.value > 99999999999999999999'''",
        'r"event.value > 5\\"',
        "r'''event['value'] > 1'''",
        '"\\" event.value > 5 \\""',
        "'0x3635C9ADC5DEA00000'",
        '"12345678901234567890123456789"',
    ],
)
def test_text_inside_string_literals_is_not_rewritten(literal):
    condition = compile_condition(f"event.value > 5 && {literal} == {literal}")
    assert condition.cel_source.count(literal) == 2
    assert condition.evaluate(native(6))
    assert not condition.evaluate(native(5))


def test_bytes_literals_and_comments_are_not_rewritten():
    condition = compile_condition(
        "event.value > 5 // event.value > 99999999999999999999999 is only a comment\n"
        "&& b'event.value > 5' == b'event.value > 5'"
    )
    assert "// event.value > 99999999999999999999999 is only a comment" in condition.cel_source
    assert condition.evaluate(native(6))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list("event.value<>=!&|0123456789x\"' []()u-+")), max_size=40))
def test_kind_equal_to_any_text_is_compared_verbatim(text):
    source = f"event.kind == {json.dumps(text)}"
    assert holds(source, common(text))
    assert not holds(source, common(text + "-"))


# --- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("event.value >", "1:14"),
        ("event.value > 1000000000000000000000 &&", "1:40"),
        ("event.value >= 1 &&\n  event.status = 1", "2:16"),
        ("event.value >> 5", "Syntax error"),
        ("'unterminated", "condition does not compile"),
        ("event.value # 5", "condition does not compile"),
        ("event..value > 5", "condition does not compile"),
        ("event.value > 5 /* no block comments */", "condition does not compile"),
    ],
)
def test_syntax_errors_name_the_place(source, expected):
    assert expected in refused(source)


def test_syntax_error_shows_the_users_own_text():
    message = refused("event.value > 1000000000000000000000 &&")
    assert "| event.value > 1000000000000000000000 &&" in message
    assert "\\x" not in message


@pytest.mark.parametrize(
    "source, expected",
    [
        (f"event.value > {2**256}", "more than an amount can be"),
        (f"event.value == {2**256 + 5}u", "more than an amount can be"),
        (f"{hex(2**256)} > event.token_id", "more than an amount can be"),
        ("event.value >= 1e78", "more than an amount can be"),
        ("event.value >= 1e999999999", "more than an amount can be"),
        ("event.value > " + "9" * 5000, "longer than"),
        ("event.value > " + "9" * 3000, "more than an amount can be"),
        ("event.value > -1", "never negative"),
        ("-1 < event.value", "never negative"),
        ("event.value in [1, -2]", "never negative"),
        ("event.value > 2.5", "not a whole number"),
        ("event.value == 1.5e0", "not a whole number"),
    ],
)
def test_literals_out_of_range_are_refused(source, expected):
    assert expected in refused(source)


def test_boundary_literals_are_accepted():
    compile_condition(f"event.value <= {MAX} && event.token_id >= 0 && event.value > -0")
    compile_condition(f"event.value <= {hex(MAX)}u")


@pytest.mark.parametrize(
    "source",
    [
        "event.value + 1 > 5",
        "(event.value) > 5",
        "event.value > (5)",
        "event.value > 5 * 2",
        "event.value > 5 - 1",
        "x - 5 < event.value",
        "-event.value < 5",
        "!event.value",
        "true == event.value > 5",
        "string(event.value) == '5'",
        "size(event.token_id) == 32",
        "event.value == event.to",
        "event.value > event.block_number",
        "event.value.foo > 1",
        "event.value > --5",
        "event.value == b'\\x05'",
        "event.value in event.topics",
        "event.kind == 'log' || event.value",
    ],
)
def test_other_uses_of_amounts_are_refused(source):
    assert "256-bit amounts" in refused(source)


def test_big_literal_beside_another_field_gets_a_hint():
    message = refused("event.block_number > 99999999999999999999")
    assert "invalid int literal" in message and "64-bit" in message


def test_unknown_field_is_refused():
    message = refused("event.vlaue > 5")
    assert "'vlaue'" in message and "token_id" in message
    assert "'nope'" in refused("event['nope'] == 1")


@pytest.mark.parametrize(
    "source, expected",
    [
        ("event.block_number + 'x' == 1", "No such overload"),
        ("event.kind", "not a boolean"),
        ("event.block_number", "not a boolean"),
        ("foo > 1", "Undefined variable"),
        ("nosuchfunction(event.kind)", "Undefined"),
        ("event.to.nosuchmethod()", "Undefined"),
    ],
)
def test_conditions_that_fail_for_every_kind_are_refused(source, expected):
    message = refused(source)
    assert "any kind of event" in message and expected in message


@pytest.mark.parametrize(
    "source",
    [
        "event.token_id > 5",  # only NFT kinds have it
        "event.kind == 'log' && event.block_number + 'x' == 1",  # fails only for logs
        "event.args.amount == '5'",  # args depend on the monitor's signatures
        "event.topics[3] == '0x00'",  # only some logs have 4 topics
        "event.contract_address.startsWith('0x')",  # null but on a creation
        "event.selector.startsWith('0x')",  # null when there is no input
        "event.operator == 'x'",
    ],
)
def test_conditions_that_can_hold_for_some_kind_are_accepted(source):
    assert isinstance(compile_condition(source), CompiledCondition)


@pytest.mark.parametrize("source", [None, 5, b"event.value > 1"])
def test_non_text_is_refused(source):
    with pytest.raises(ConditionError, match="must be a string"):
        compile_condition(source)


def test_empty_and_overlong_are_refused():
    assert "empty" in refused("")
    assert "empty" in refused("  \n ")
    assert "longer than" in refused("true && " * (MAX_CONDITION_LENGTH // 8 + 1) + "true")


def test_condition_error_is_a_value_error():
    assert issubclass(ConditionError, ValueError)


# --- evaluation never raises -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, event, error",
    [
        ("event.token_id > 5", native(10), "token_id"),
        ("event.value > 5", erc721(10), "value"),
        ("event.to.startsWith('0x')", transaction(to=None), "startsWith"),
        ("event.value > 5", native(10) | {"value": "not a number"}, "ValueError"),
        ("event.value > 5", native(10) | {"value": str(2**256)}, "outside uint256"),
        ("event.value > 5", native(10) | {"value": "-7"}, "outside uint256"),
        ("event.value > 5", native(10) | {"value": None}, "not a decimal string"),
        ("event.value > 5", native(10) | {"value": "9" * 100}, "longer than"),
        ("event.kind == 'log' ? event.data : true", log(), "not a boolean"),
        ("event.topics[5] == 'x'", log(), "index"),
        ("event.gas_used / (event.status - 1) > 0", transaction(), "division by zero"),
    ],
)
def test_evaluation_errors_are_false_with_last_error(source, event, error):
    condition = compile_condition(source)
    assert condition.evaluate(event) is False
    assert error in condition.last_error


@pytest.mark.parametrize("event", [None, 5, "event", [], {}])
def test_evaluating_something_that_is_not_an_event_is_false(event):
    condition = compile_condition("event.value > 5 || event.kind == 'x'")
    assert condition.evaluate(event) is False
    assert condition.last_error


def test_integer_amounts_are_accepted_too():
    condition = compile_condition("event.value == 1000000000000000000000")
    assert condition.evaluate(native(0) | {"value": 10**21})
    assert not condition.evaluate(native(0) | {"value": True})


# --- the whole event -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, expected",
    [
        ("size(event) > 5 && event.value > 5", True),
        ("'value' in event && event.value == 10", True),
        ("'token_id' in event", False),
        ("event.exists(k, k == 'to')", True),
        ("event[event.kind == 'native_transfer' ? 'to' : 'from'] == '" + BOB + "'", True),
    ],
)
def test_whole_event_uses(source, expected):
    assert holds(source, native(10)) is expected


def test_only_named_fields_are_read():
    condition = compile_condition("event.block_number > 5")
    # A malformed amount the condition does not name does not matter.
    assert condition.evaluate(native(1) | {"value": "garbage"})
    whole = compile_condition("size(event) > 0 && event.block_number > 5")
    assert not whole.evaluate(native(1) | {"value": "garbage"})


# --- compiled once -----------------------------------------------------------------------------------


def test_cached_condition_compiles_once_per_source():
    first = cached_condition("event.value > 123456789012345678901234567890 && event.status == 1")
    again = cached_condition("event.value > 123456789012345678901234567890 && event.status == 1")
    assert first is again
    assert first.source == "event.value > 123456789012345678901234567890 && event.status == 1"
    assert first.evaluate(transaction(value=123456789012345678901234567891))
    assert cached_condition("event.status == 1") is not first
    for _ in range(2):
        with pytest.raises(ConditionError):
            cached_condition("event.value >")


def test_a_compiled_condition_is_reusable_across_events():
    condition = compile_condition("event.value >= 1000000000000000000 && event.to == '" + BOB + "'")
    results = [condition.evaluate(native(v)) for v in (10**18 - 1, 10**18, 10**30, 0)]
    assert results == [False, True, True, False]
    assert condition.evaluate(erc20(10**18))
    assert not condition.evaluate(erc721(10**18))


# --- properties ------------------------------------------------------------------------------------

uint256 = st.one_of(
    st.integers(min_value=0, max_value=MAX),
    st.sampled_from(BOUNDARIES),
    st.integers(min_value=0, max_value=2**64 + 2),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=uint256, b=uint256, op=st.sampled_from(sorted(OPERATORS)), hex_literal=st.booleans())
def test_value_comparison_matches_python(a, b, op, hex_literal):
    literal = hex(b) if hex_literal else str(b)
    event = native(a)
    assert compile_condition(f"event.value {op} {literal}").evaluate(event) is OPERATORS[op](a, b)
    assert compile_condition(f"{literal} {REVERSED[op]} event.value").evaluate(event) is OPERATORS[op](a, b)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=uint256, b=uint256, op=st.sampled_from(sorted(OPERATORS)))
def test_amount_against_amount_matches_python(a, b, op):
    assert compile_condition(f"event.token_id {op} event.value").evaluate(erc1155(a, b)) is OPERATORS[op](a, b)


_CEL_PIECES = st.sampled_from(
    [
        "event", ".", "value", "token_id", "to", "kind", "[", "]", "(", ")", "'value'", '"0xAB"', "r'x'",
        "b'\\x00'", '"""', "'''", "==", "!=", "<", "<=", ">", ">=", "in", "&&", "||", "!", "-", "+", "*",
        "?", ":", ",", "has", "size", "0", "1", "5u", "0x1F", "1e21", "1.5", "18446744073709551616",
        str(MAX), str(2**256), " ", "\n", "//", "true", "null", "{", "}", "`", "\\", "#",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.one_of(st.text(max_size=200), st.lists(_CEL_PIECES, max_size=16).map(" ".join),
                 st.lists(_CEL_PIECES, max_size=16).map("".join)))
def test_any_text_compiles_or_raises_condition_error(source):
    try:
        condition = compile_condition(source)
    except ConditionError as error:
        assert str(error)
        return
    for event in (native(10**21), erc721(3), transaction(), log()):
        assert condition.evaluate(event) in (True, False)


int256_or_uint256 = st.one_of(
    st.integers(min_value=MIN, max_value=MAX),
    st.sampled_from(ARG_BOUNDARIES),
    st.integers(min_value=-(2**64), max_value=2**64),
)


def _literal(value: int, hex_literal: bool) -> str:
    text = hex(abs(value)) if hex_literal else str(abs(value))
    return f"-{text}" if value < 0 else text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=int256_or_uint256, b=int256_or_uint256, op=st.sampled_from(sorted(OPERATORS)), hex_literal=st.booleans())
def test_arg_comparison_matches_python(a, b, op, hex_literal):
    literal = _literal(b, hex_literal)
    event = decoded(amount=a)
    assert compile_condition(f"event.args.amount {op} {literal}").evaluate(event) is OPERATORS[op](a, b)
    assert compile_condition(f"{literal} {REVERSED[op]} event.args.amount").evaluate(event) is OPERATORS[op](a, b)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=int256_or_uint256, b=int256_or_uint256, op=st.sampled_from(sorted(OPERATORS)))
def test_arg_against_arg_matches_python(a, b, op):
    event = decoded(a=a, values=[b])
    assert compile_condition(f"event.args.a {op} event.args.values[0]").evaluate(event) is OPERATORS[op](a, b)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=int256_or_uint256, listed=st.lists(int256_or_uint256, max_size=5), hex_literal=st.booleans())
def test_arg_in_list_matches_python(a, listed, hex_literal):
    source = f"event.args.amount in [{', '.join(_literal(b, hex_literal) for b in listed)}]"
    assert compile_condition(source).evaluate(decoded(amount=a)) is (a in listed)


_ARGS_PIECES = st.sampled_from(
    [
        "event", "args", ".", "value", "ids", "to", "[", "]", "(", ")", "'value'", "'ids'", "r'to'", "0", "1",
        "5u", "0x1F", "-", "1e21", "2.5", str(MAX), str(MIN), str(2**256), "==", "!=", "<", "<=", ">", ">=",
        "in", "&&", "||", "!", "?", ":", ",", "has", "size", "int", "true", "null", "_int_args", " ",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(_ARGS_PIECES, max_size=16).map(" ".join))
def test_any_args_text_compiles_or_raises_condition_error(source):
    try:
        condition = compile_condition(source)
    except ConditionError as error:
        assert str(error)
        return
    for event in (decoded(value=-5, ids=["1", "x"], to=ALICE), decoded(value=MAX), log(), native(10)):
        assert condition.evaluate(event) in (True, False)
