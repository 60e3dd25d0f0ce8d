"""The `args` of a `log` event, decoded by an event signature."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_abi import decode, encode
from eth_abi.grammar import BasicType, TupleType, parse
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from blockhook.matching.log_args import EventParam, LogArgsDecoder, decoder_for, event_params
from blockhook.matching.signatures import InvalidSignature

TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
NFT_TRANSFER = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
TRANSFER_SINGLE = (
    "TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)"
)
TRANSFER_SINGLE_TOPIC = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
TRANSFER_BATCH = (
    "TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, "
    "uint256[] values)"
)
TRANSFER_BATCH_TOPIC = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
ALICE = "0x" + "a1" * 20
BOB = "0x00000000000000000000000000000000000000b0"
TOKEN = "0x" + "70" * 20
MAX_UINT256 = 2**256 - 1


def word(value: int) -> str:
    """A 32-byte big-endian word as hex without 0x, written by hand (not by eth_abi)."""
    return f"{value % 2**256:064x}"


def address_topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:]


def topic_of(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


def log(topics: list[str], data: str = "0x") -> dict:
    return {"address": TOKEN, "topics": topics, "data": data, "kind": "log", "log_index": 3}


def encoded(types: list[str], values: list) -> str:
    return "0x" + encode(types, values).hex()


# --- well-known token events ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 10**18, 2**64, 2**53 + 1, MAX_UINT256])
def test_erc20_transfer(value):
    decoder = decoder_for(TRANSFER)
    assert decoder.topic0 == TRANSFER_TOPIC
    args = decoder.decode(log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)], "0x" + word(value)))
    assert args == {"from": ALICE, "to": BOB, "value": str(value)}
    assert list(args) == ["from", "to", "value"]


def test_erc20_transfer_accepts_any_hex_case_and_answers_lowercase():
    upper = "0x" + "00" * 12 + "AbCdEf" * 6 + "AbCd"
    args = decoder_for(TRANSFER).decode(log([TRANSFER_TOPIC.upper().replace("0X", "0x"), upper, upper],
                                             "0x" + word(255).upper()))
    assert args == {"from": "0x" + "abcdef" * 6 + "abcd", "to": "0x" + "abcdef" * 6 + "abcd", "value": "255"}


def test_erc721_transfer_all_indexed():
    decoder = decoder_for(NFT_TRANSFER)
    assert decoder.topic0 == TRANSFER_TOPIC
    args = decoder.decode(log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB), "0x" + word(MAX_UINT256)]))
    assert args == {"from": ALICE, "to": BOB, "tokenId": str(MAX_UINT256)}


def test_erc20_and_erc721_transfer_share_topic0_but_not_topic_count():
    erc20_log = log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)], "0x" + word(5))
    erc721_log = log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB), "0x" + word(5)])
    assert decoder_for(TRANSFER).decode(erc721_log) is None
    assert decoder_for(NFT_TRANSFER).decode(erc20_log) is None


def test_erc1155_transfer_single():
    decoder = decoder_for(TRANSFER_SINGLE)
    assert decoder.topic0 == TRANSFER_SINGLE_TOPIC
    topics = [TRANSFER_SINGLE_TOPIC, address_topic(TOKEN), address_topic(ALICE), address_topic(BOB)]
    args = decoder.decode(log(topics, "0x" + word(7) + word(MAX_UINT256)))
    assert args == {"operator": TOKEN, "from": ALICE, "to": BOB, "id": "7", "value": str(MAX_UINT256)}


def test_erc1155_transfer_batch_arrays_in_data():
    decoder = decoder_for(TRANSFER_BATCH)
    assert decoder.topic0 == TRANSFER_BATCH_TOPIC
    # Written by hand: head (two offsets), then each array as length and items.
    data = "0x" + word(0x40) + word(0xC0) + word(3) + word(1) + word(2) + word(3) + word(3) + word(10) \
        + word(0) + word(MAX_UINT256)
    topics = [TRANSFER_BATCH_TOPIC, address_topic(TOKEN), "0x" + "00" * 32, address_topic(BOB)]
    assert decoder.decode(log(topics, data)) == {
        "operator": TOKEN,
        "from": "0x" + "00" * 20,
        "to": BOB,
        "ids": ["1", "2", "3"],
        "values": ["10", "0", str(MAX_UINT256)],
    }


def test_erc1155_transfer_batch_empty_arrays():
    topics = [TRANSFER_BATCH_TOPIC, address_topic(TOKEN), address_topic(ALICE), address_topic(BOB)]
    data = "0x" + word(0x40) + word(0x60) + word(0) + word(0)
    assert decoder_for(TRANSFER_BATCH).decode(log(topics, data))["ids"] == []


# --- other types --------------------------------------------------------------------------------------------


def test_string_and_bytes_in_data():
    signature = "Message(address indexed sender, string text, bytes payload, uint8 kind)"
    decoder = decoder_for(signature)
    data = encoded(["string", "bytes", "uint8"], ["héllo, wörld ✓", b"\x00\x01\xfe\xff", 200])
    args = decoder.decode(log([topic_of("Message(address,string,bytes,uint8)"), address_topic(ALICE)], data))
    assert args == {"sender": ALICE, "text": "héllo, wörld ✓", "payload": "0x0001feff", "kind": "200"}


def test_empty_string_and_bytes():
    decoder = decoder_for("Message(string text, bytes payload)")
    args = decoder.decode(log([decoder.topic0], encoded(["string", "bytes"], ["", b""])))
    assert args == {"text": "", "payload": "0x"}


def test_string_that_is_not_utf8_answers_its_raw_bytes_as_hex():
    decoder = decoder_for("Message(string text)")
    assert decoder.decode(log([decoder.topic0], encoded(["bytes"], [b"ok\xff\xfe"]))) == {"text": "0x6f6bfffe"}


def test_indexed_string_answers_the_topic_hash():
    decoder = decoder_for("Registered(string indexed name, address owner)")
    name_hash = "0x" + keccak(text="vitalik.eth").hex()
    args = decoder.decode(log([decoder.topic0, name_hash.upper().replace("0X", "0x")], encoded(["address"], [BOB])))
    assert args == {"name": name_hash, "owner": BOB}


@pytest.mark.parametrize(
    "param_type", ["bytes", "uint256[]", "address[2]", "(uint256,address)", "(uint256,string)[]", "string[]"]
)
def test_indexed_reference_types_answer_the_topic(param_type):
    # Even static arrays and tuples are hashed when indexed: only value types stand in a topic as themselves.
    decoder = decoder_for(f"Hashed({param_type} indexed thing, bool flag)")
    topic = "0x" + "ab" * 32
    assert decoder.decode(log([decoder.topic0, topic], encoded(["bool"], [True]))) == {"thing": topic, "flag": True}


def test_bool_negative_int_bytes32_tuple():
    signature = ("Mixed(bool indexed ok, int256 indexed delta, bytes32 indexed tag, int8 small, "
                 "(address who, uint256 amount, (bool, string) inner) order, bytes4 selector, bool no)")
    decoder = decoder_for(signature)
    tag = bytes(range(32))
    topics = [decoder.topic0, "0x" + word(1), "0x" + word(-5), "0x" + tag.hex()]
    data = encoded(["int8", "(address,uint256,(bool,string))", "bytes4", "bool"],
                   [-128, (ALICE, MAX_UINT256, (True, "x")), b"\xa9\x05\x9c\xbb", False])
    assert decoder.decode(log(topics, data)) == {
        "ok": True,
        "delta": "-5",
        "tag": "0x" + tag.hex(),
        "small": "-128",
        "order": [ALICE, str(MAX_UINT256), [True, "x"]],
        "selector": "0xa9059cbb",
        "no": False,
    }


def test_indexed_int_extremes_and_small_bytes():
    decoder = decoder_for("Edge(int256 indexed low, int16 indexed high, bytes2 indexed two)")
    topics = [decoder.topic0, "0x" + word(-(2**255)), "0x" + word(2**15 - 1), "0x" + "beef" + "00" * 30]
    assert decoder.decode(log(topics)) == {"low": str(-(2**255)), "high": "32767", "two": "0xbeef"}


def test_fixed_point_answers_a_decimal_string():
    decoder = decoder_for("Rate(fixed128x18 rate, ufixed)")
    args = decoder.decode(log([decoder.topic0], encoded(["fixed128x18", "ufixed128x18"],
                                                        [Decimal("-1.5"), Decimal("0.000000000000000001")])))
    assert Decimal(args["rate"]) == Decimal("-1.5")
    assert Decimal(args["arg1"]) == Decimal("0.000000000000000001")
    assert "E" not in args["arg1"].upper()


def test_event_without_parameters():
    decoder = decoder_for("Paused()")
    assert decoder.decode(log([topic_of("Paused()")])) == {}
    assert decoder.decode(log([topic_of("Paused()"), "0x" + word(1)])) is None


def test_unnamed_params_are_named_by_position():
    decoder = decoder_for("Transfer(address indexed, address indexed to, uint)")
    args = decoder.decode(log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)], "0x" + word(9)))
    assert args == {"arg0": ALICE, "to": BOB, "arg2": "9"}


def test_event_params():
    assert event_params("Order((address maker, uint amount) indexed order, uint8, string note)") == (
        "Order",
        (
            EventParam("order", "(address,uint256)", True),
            EventParam("arg1", "uint8", False),
            EventParam("note", "string", False),
        ),
    )


@pytest.mark.parametrize(
    "signature",
    [
        "Transfer",
        "Transfer(address,,uint256)",
        TRANSFER_TOPIC,  # a bare topic 0 names no parameters to decode
        "Dup(uint256 a, address a)",
        "Dup(uint256 arg1, address)",  # the second is named arg1 by position
        "Fixed(fixed128x0 zero)",  # the signature grammar allows it; eth_abi cannot decode it
        None,
    ],
)
def test_signatures_that_cannot_decode_raise_invalid_signature(signature):
    with pytest.raises(InvalidSignature):
        decoder_for(signature)
    with pytest.raises(InvalidSignature):
        LogArgsDecoder.from_signature(signature)


def test_decoder_for_is_cached_per_signature():
    assert decoder_for(TRANSFER) is decoder_for(TRANSFER)
    assert decoder_for(TRANSFER) is not decoder_for(NFT_TRANSFER)


# --- logs that are not this event, or do not decode ---------------------------------------------------------

GOOD_TOPICS = [TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)]
GOOD_DATA = "0x" + word(1)


@pytest.mark.parametrize(
    "log_event",
    [
        log(GOOD_TOPICS[:2], GOOD_DATA),  # too few topics
        log(GOOD_TOPICS + ["0x" + word(1)], GOOD_DATA),  # too many topics
        log([], GOOD_DATA),
        log([TRANSFER_SINGLE_TOPIC] + GOOD_TOPICS[1:], GOOD_DATA),  # other topic 0
        log(GOOD_TOPICS, "0x"),  # no data
        log(GOOD_TOPICS, "0x" + word(1)[:-2]),  # short data
        log(GOOD_TOPICS, "0x" + word(1)[:-1]),  # odd number of hex digits
        log(GOOD_TOPICS, word(1)),  # no 0x
        log(GOOD_TOPICS, "xx" + word(1)),  # no 0x
        log(GOOD_TOPICS, "0x" + "zz" * 32),  # not hex
        log(GOOD_TOPICS, "0x" + " 00" * 32),  # not hex (bytes.fromhex would skip the spaces)
        log([TRANSFER_TOPIC, "0x" + "ff" * 32, address_topic(BOB)], GOOD_DATA),  # dirty address padding
        log([TRANSFER_TOPIC, address_topic(ALICE)[:-2], address_topic(BOB)], GOOD_DATA),  # short topic
        log([TRANSFER_TOPIC, address_topic(ALICE) + "00", address_topic(BOB)], GOOD_DATA),  # long topic
        log([TRANSFER_TOPIC, None, address_topic(BOB)], GOOD_DATA),
        log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)], None),
        log([TRANSFER_TOPIC, address_topic(ALICE), address_topic(BOB)], 12),
        {"topics": GOOD_TOPICS},  # no data
        {"data": GOOD_DATA},  # no topics
        {"topics": "0x" + TRANSFER_TOPIC, "data": GOOD_DATA},
        {},
    ],
)
def test_logs_that_are_not_this_event_answer_none(log_event):
    assert decoder_for(TRANSFER).decode(log_event) is None


@pytest.mark.parametrize("log_event", [None, 42, "0x", [TRANSFER_TOPIC]])
def test_non_mappings_answer_none(log_event):
    assert decoder_for(TRANSFER).decode(log_event) is None


@pytest.mark.parametrize(
    "data",
    [
        "0x" + word(0x40) + word(0x60) + word(1),  # second array's length is missing
        "0x" + word(0x40) + word(0x1000) + word(0) + word(0),  # offset beyond the data
        "0x" + word(0x00) + word(0x20) + word(0) + word(0),  # offset inside the head
        "0x" + word(0x40) + word(0x60) + word(2**255) + word(0),  # huge length
        "0x" + word(MAX_UINT256) + word(0x60) + word(0) + word(0),
        "0x" + word(0x40),
    ],
)
def test_garbage_data_answers_none(data):
    topics = [TRANSFER_BATCH_TOPIC, address_topic(TOKEN), address_topic(ALICE), address_topic(BOB)]
    assert decoder_for(TRANSFER_BATCH).decode(log(topics, data)) is None


def test_nonzero_padding_in_data_answers_none():
    decoder = decoder_for("Flag(bool ok, uint8 small)")
    assert decoder.decode(log([decoder.topic0], "0x" + word(2) + word(1))) is None
    assert decoder.decode(log([decoder.topic0], "0x" + word(1) + word(256))) is None
    assert decoder.decode(log([decoder.topic0], "0x" + word(1) + word(255))) == {"ok": True, "small": "255"}


def shared_tail_data(count: int, tail_words: int) -> str:
    """`uint256[][]` data whose `count` items all point at one tail of `tail_words` numbers: small data
    that would decode to count * tail_words values."""
    return "0x" + word(0x20) + word(count) + word(32 * count) * count + word(tail_words) + word(1) * tail_words


def test_offsets_sharing_one_tail_are_refused_before_decoding():
    decoder = decoder_for("Grid(uint256[][] grid)")
    small = shared_tail_data(3, 8)
    assert decode(["uint256[][]"], bytes.fromhex(small[2:])) == (((1,) * 8,) * 3,)  # eth_abi alone decodes it
    assert decoder.decode(log([decoder.topic0], small)) is None
    assert decoder.decode(log([decoder.topic0], shared_tail_data(1000, 1))) is None
    # Some 64 kB that would decode to 4 million numbers (and take seconds); refused at once.
    assert decoder.decode(log([decoder.topic0], shared_tail_data(2000, 2000))) is None


@pytest.mark.parametrize(
    ("signature", "data"),
    [
        # 64 pointers at one 4 kB string: 6 kB of data for 256 kB of strings.
        ("Names(string[64] names)", "0x" + word(0x20) + word(32 * 64) * 64 + word(4096) + "61" * 4096),
        ("Blobs(uint8 kind, bytes[] blobs)",
         "0x" + word(7) + word(0x40) + word(100) + word(32 * 100) * 100 + word(3000) + "ff" * 3000 + "00" * 8),
        ("Orders((uint256 id, string memo)[] orders)",
         "0x" + word(0x20) + word(50) + word(32 * 50) * 50 + word(1) + word(0x40) + word(2000) + "62" * 2000
         + "00" * 16),
    ],
)
def test_more_shared_tails_are_refused(signature, data):
    decoder = decoder_for(signature)
    types = [param.type for param in decoder.params]
    assert decode(types, bytes.fromhex(data[2:]))  # eth_abi alone decodes it
    assert decoder.decode(log([decoder.topic0], data)) is None


@pytest.mark.parametrize(
    ("signature", "data"),
    [
        ("Orders((uint256 id, string memo)[] orders)", "0x" + word(0x20) + word(2**64)),
        ("Names(string[] names)", "0x" + word(0x20) + word(1) + word(0x20) + word(2**200)),
        ("Names(string[] names)", "0x" + word(0x20) + word(MAX_UINT256)),
        ("Names(string[] names)", "0x" + word(MAX_UINT256) + word(1)),
        ("Names(string[] names)", "0x" + word(0x20) + word(1) + word(MAX_UINT256)),
    ],
)
def test_absurd_lengths_and_offsets_answer_none(signature, data):
    decoder = decoder_for(signature)
    assert decoder.decode(log([decoder.topic0], data)) is None


def test_long_arrays_of_dynamic_items_written_as_solidity_does_decode():
    decoder = decoder_for("Names(string[] names, bytes[][] blobs)")
    names = [f"name {index}" * (index % 5) for index in range(600)]
    blobs = [[bytes([index]) * index for index in range(size)] for size in range(40)]
    args = decoder.decode(log([decoder.topic0], encoded(["string[]", "bytes[][]"], [names, blobs])))
    assert args == {"names": names, "blobs": [["0x" + blob.hex() for blob in row] for row in blobs]}


def test_types_nested_too_deep_are_refused():
    assert decoder_for("Deep(uint256" + "[]" * 32 + " x)").decode(
        log([topic_of("Deep(uint256" + "[]" * 32 + ")")], "0x" + word(0x20) + word(0))
    ) == {"x": []}
    for signature in ("Deep(uint256" + "[]" * 33 + " x)", "Deep(uint256" + "[]" * 2000 + " x)",
                      "Deep(" + "(" * 20 + "uint256" + ")" * 20 + "[]" * 13 + " x)"):
        with pytest.raises(InvalidSignature):
            decoder_for(signature)


FUZZED_SIGNATURES = [
    TRANSFER,
    TRANSFER_BATCH,
    "Message(string indexed key, string text, bytes payload, uint8[] small)",
    "Nested((uint256, (bool, string)[])[] orders, bytes32[2] indexed pair, int64 indexed n)",
]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    signature=st.sampled_from(FUZZED_SIGNATURES),
    topics=st.lists(st.binary(min_size=32, max_size=32), max_size=4),
    data=st.binary(max_size=512),
    words=st.lists(st.sampled_from([0, 1, 0x20, 0x40, 0x60, 0x80, 2**255, MAX_UINT256]), max_size=12),
)
def test_any_bytes_answer_args_or_none_and_never_raise(signature, topics, data, words):
    decoder = decoder_for(signature)
    # Mixing plausible offsets and lengths with random bytes reaches deeper into the decoder than noise alone.
    raw = b"".join(value.to_bytes(32, "big") for value in words) + data
    log_event = log([decoder.topic0] + ["0x" + topic.hex() for topic in topics], "0x" + raw.hex())
    args = decoder.decode(log_event)
    assert args is None or list(args) == [param.name for param in decoder.params]


# --- round trip: values encoded as Solidity would, decoded back to their JSON-ready forms --------------------


def values_for(abi_type):
    """A strategy of (value for eth_abi.encode, the JSON-ready form the decoder must answer)."""
    if abi_type.is_array:
        item = values_for(abi_type.item_type)
        size = abi_type.arrlist[-1]
        lists = st.lists(item, min_size=size[0], max_size=size[0]) if size else st.lists(item, max_size=4)
        return lists.map(lambda pairs: ([value for value, _ in pairs], [form for _, form in pairs]))
    if isinstance(abi_type, TupleType):
        parts = st.tuples(*(values_for(component) for component in abi_type.components))
        return parts.map(lambda pairs: (tuple(value for value, _ in pairs), [form for _, form in pairs]))
    assert isinstance(abi_type, BasicType)
    base, sub = abi_type.base, abi_type.sub
    if base == "uint":
        return st.integers(0, 2**sub - 1).map(lambda value: (value, str(value)))
    if base == "int":
        return st.integers(-(2 ** (sub - 1)), 2 ** (sub - 1) - 1).map(lambda value: (value, str(value)))
    if base == "bool":
        return st.booleans().map(lambda value: (value, value))
    if base == "address":
        return st.binary(min_size=20, max_size=20).map(lambda raw: ("0x" + raw.hex(), "0x" + raw.hex()))
    if base == "bytes":
        sizes = {"min_size": sub, "max_size": sub} if sub else {"max_size": 80}
        return st.binary(**sizes).map(lambda raw: (raw, "0x" + raw.hex()))
    if base == "string":
        # Encoded as bytes (the same ABI encoding), since contracts may log text that is not UTF-8.
        text = st.text(max_size=40).map(lambda value: (value.encode(), value))
        raw = st.binary(max_size=40).filter(lambda raw: not is_utf8(raw)).map(lambda raw: (raw, "0x" + raw.hex()))
        return st.one_of(text, raw)
    raise AssertionError(f"no strategy for {abi_type}")


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def with_bytes_for_strings(type_str: str) -> str:
    # The string values are drawn as bytes (maybe not UTF-8), which encode identically as `bytes`.
    return type_str.replace("string", "bytes")


ROUND_TRIP_SIGNATURES = [
    TRANSFER,
    TRANSFER_BATCH,
    "Swap(address indexed sender, int256 indexed delta, uint112 reserve0, int24 tick, bool indexed zeroForOne, "
    "bytes32 poolId)",
    "Note(string indexed key, string text, bytes blob, uint8[] small, int64 indexed n, bytes4 indexed sel)",
    "Order((address maker, uint256 amount, string memo)[] orders, bytes indexed raw, int8 tiny, bool[2] flags)",
    "Grid(uint256[2][] grid, (bool, (int128, bytes))[2] nest, address[] who, uint16 indexed, string)",
]


@st.composite
def round_trips(draw):
    signature = draw(st.sampled_from(ROUND_TRIP_SIGNATURES))
    _, params = event_params(signature)
    pairs = [draw(values_for(parse(param.type))) for param in params]
    return signature, params, pairs


@settings(max_examples=200, deadline=None, derandomize=True)
@given(case=round_trips(), hashed_topics=st.lists(st.binary(min_size=32, max_size=32), min_size=6, max_size=6))
def test_round_trip(case, hashed_topics):
    signature, params, pairs = case
    decoder = decoder_for(signature)
    topics, data_types, data_values, expected = [decoder.topic0], [], [], {}
    for param, (value, form) in zip(params, pairs, strict=True):
        abi_type = parse(param.type)
        if not param.indexed:
            data_types.append(with_bytes_for_strings(param.type))
            data_values.append(value)
            expected[param.name] = form
        elif isinstance(abi_type, BasicType) and not abi_type.is_array and param.type not in ("string", "bytes"):
            topics.append("0x" + encode([param.type], [value]).hex())  # a value type: its padded word
            expected[param.name] = form
        else:
            hashed = "0x" + hashed_topics[len(topics)].hex()  # the log holds a hash; any 32 bytes will do
            topics.append(hashed)
            expected[param.name] = hashed
    data = "0x" + encode(data_types, data_values).hex()
    assert decoder.decode(log(topics, data)) == expected
