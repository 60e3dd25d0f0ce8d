"""normalise_address and the request models of the REST API (CONTRACT section 2)."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from blockhook.api.models import (
    DEFAULT_KINDS,
    MAX_CHAIN_ID,
    AddressChange,
    Filters,
    LabelledAddress,
    MonitorCreate,
    MonitorOut,
    MonitorPatch,
    MonitorWithSecret,
    normalise_address,
)

ADDRESS_BYTES = st.binary(min_size=20, max_size=20)
# EIP-55's own test vectors.
CHECKSUMMED = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
TRANSFER = "Transfer(address indexed from, address indexed to, uint256 value)"
MINIMAL = {"name": "wallets", "chain_ids": [1], "webhook_url": "https://example.com/hook"}


def flip_case_at(address: str, position: int) -> str:
    digits = address[2:]
    return "0x" + digits[:position] + digits[position].swapcase() + digits[position + 1 :]


def is_mixed_case(address: str) -> bool:
    digits = address[2:]
    return digits != digits.lower() and digits != digits.upper()


# --- normalise_address -----------------------------------------------------------------------


@given(ADDRESS_BYTES)
def test_lowercase_hex_is_accepted_as_is(raw):
    address = "0x" + raw.hex()
    assert normalise_address(address) == address


@given(ADDRESS_BYTES)
def test_uppercase_hex_is_accepted_and_answered_lowercase(raw):
    assert normalise_address("0x" + raw.hex().upper()) == "0x" + raw.hex()


@given(ADDRESS_BYTES)
def test_an_eip55_checksum_address_is_accepted_and_answered_lowercase(raw):
    assert normalise_address(to_checksum_address(raw)) == "0x" + raw.hex()


@given(ADDRESS_BYTES, st.data())
def test_a_checksum_address_with_one_letter_flipped_is_refused(raw, data):
    checksummed = to_checksum_address(raw)
    letters = [position for position, char in enumerate(checksummed[2:]) if char.isalpha()]
    assume(letters)
    flipped = flip_case_at(checksummed, data.draw(st.sampled_from(letters)))
    # All-lower or all-upper carries no checksum and is accepted by design; any mixed case must pass it.
    assume(is_mixed_case(flipped))
    with pytest.raises(ValueError, match="checksum"):
        normalise_address(flipped)


@pytest.mark.parametrize("address", CHECKSUMMED)
def test_eip55_test_vectors(address):
    assert normalise_address(address) == address.lower()
    for position, char in enumerate(address[2:]):
        flipped = flip_case_at(address, position)
        if char.isalpha() and is_mixed_case(flipped):
            with pytest.raises(ValueError):
                normalise_address(flipped)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0x",
        "0x" + "a" * 39,
        "0x" + "a" * 41,
        "a" * 40,
        "0x" + "g" * 40,
        "0x" + "a" * 40 + "\n",
        "0x" + "a" * 40 + " ",
        " 0x" + "a" * 40,
        "0x " + "a" * 39,
        "0x" + "a" * 38 + "٠١",  # Arabic-Indic digits are digits, not hex
        "1x" + "a" * 40,
    ],
)
def test_anything_but_0x_and_40_hex_digits_is_refused(value):
    with pytest.raises(ValueError):
        normalise_address(value)


@given(st.text(max_size=60))
def test_normalise_address_accepts_only_addresses(text):
    try:
        answer = normalise_address(text)
    except ValueError:
        return
    assert answer == text.lower() and len(answer) == 42 and answer.startswith("0x")
    int(answer, 16)


# --- request models --------------------------------------------------------------------------


def test_monitor_create_defaults():
    monitor = MonitorCreate.model_validate(MINIMAL)
    # No addresses: it watches every party.
    assert monitor.filters == Filters(kinds=DEFAULT_KINDS, addresses=None, contracts=[], event_signatures=[])
    assert monitor.active is True and monitor.condition is None and monitor.confirmations is None


def test_monitor_create_normalises_addresses_in_its_filters():
    checksummed = CHECKSUMMED[0]
    monitor = MonitorCreate.model_validate(
        {
            **MINIMAL,
            "filters": {
                "kinds": ["log"],
                "addresses": [checksummed, {"address": CHECKSUMMED[1], "label": "customer-42"}],
                "contracts": [CHECKSUMMED[2].upper().replace("0X", "0x")],
                "event_signatures": [TRANSFER],
            },
        }
    )
    assert monitor.filters.addresses == [
        checksummed.lower(),
        LabelledAddress(address=CHECKSUMMED[1].lower(), label="customer-42"),
    ]
    assert monitor.filters.contracts == [CHECKSUMMED[2].lower()]
    assert monitor.filters.event_signatures == [TRANSFER]


@pytest.mark.parametrize(
    "change",
    [
        {"bogus": 1},
        {"name": ""},
        {"name": "x" * 201},
        {"chain_ids": []},
        {"chain_ids": [0]},
        {"chain_ids": [MAX_CHAIN_ID + 1]},
        {"chain_ids": list(range(1, 52))},
        {"webhook_url": ""},
        {"confirmations": -1},
        {"confirmations": 1001},
        {"filters": {"kinds": []}},
        {"filters": {"kinds": ["mint"]}},
        {"filters": {"extra": []}},
        {"filters": {"contracts": ["0x12"]}},
        {"filters": {"event_signatures": ["Transfer("]}},
        {"filters": {"event_signatures": ["not a signature"]}},
        {"filters": {"addresses": [{"address": CHECKSUMMED[0], "label": "x", "note": "y"}]}},
        {"filters": {"addresses": [{"address": CHECKSUMMED[0], "label": "x" * 201}]}},
    ],
)
def test_monitor_create_refuses(change):
    with pytest.raises(ValidationError):
        MonitorCreate.model_validate({**MINIMAL, **change})


@pytest.mark.parametrize("missing", ["name", "chain_ids", "webhook_url"])
def test_monitor_create_requires(missing):
    with pytest.raises(ValidationError):
        MonitorCreate.model_validate({name: value for name, value in MINIMAL.items() if name != missing})


def test_monitor_patch_knows_which_fields_were_given():
    patch = MonitorPatch.model_validate({"name": "new", "condition": None, "filters": {"addresses": []}})
    assert patch.model_fields_set == {"name", "condition", "filters"}
    assert patch.filters.model_fields_set == {"addresses"}
    assert MonitorPatch.model_validate({}).model_fields_set == set()


def test_addresses_null_absent_and_empty_are_told_apart():
    """Absent or null: every party; a list, even empty: only it. PATCH acts only on a given one."""
    assert MonitorCreate.model_validate(MINIMAL).filters.addresses is None
    assert MonitorCreate.model_validate({**MINIMAL, "filters": {"addresses": None}}).filters.addresses is None
    assert MonitorCreate.model_validate({**MINIMAL, "filters": {"addresses": []}}).filters.addresses == []
    nulled = MonitorPatch.model_validate({"filters": {"addresses": None}}).filters
    assert nulled.addresses is None and nulled.model_fields_set == {"addresses"}
    assert "addresses" not in MonitorPatch.model_validate({"filters": {"kinds": ["log"]}}).filters.model_fields_set


@pytest.mark.parametrize("field", ["name", "webhook_url", "filters", "active"])
def test_monitor_patch_refuses_null_for_what_always_has_a_value(field):
    with pytest.raises(ValidationError, match=field):
        MonitorPatch.model_validate({field: None})


@pytest.mark.parametrize("field", ["condition", "confirmations"])
def test_monitor_patch_may_clear_condition_and_confirmations(field):
    assert getattr(MonitorPatch.model_validate({field: None}), field) is None


@pytest.mark.parametrize("change", [{"chain_ids": [1]}, {"secret": "x"}, {"id": "mon_1"}, {"name": ""}])
def test_monitor_patch_refuses(change):
    with pytest.raises(ValidationError):
        MonitorPatch.model_validate(change)


def test_address_change_takes_plain_and_labelled_items():
    change = AddressChange.model_validate(
        {"add": [CHECKSUMMED[0], {"address": CHECKSUMMED[1]}], "remove": [CHECKSUMMED[2].lower()]}
    )
    assert change.add == [CHECKSUMMED[0].lower(), LabelledAddress(address=CHECKSUMMED[1].lower(), label=None)]
    assert change.remove == [CHECKSUMMED[2].lower()]
    assert AddressChange.model_validate({}) == AddressChange(add=[], remove=[])


@pytest.mark.parametrize(
    "body",
    [
        {"add": [flip_case_at(CHECKSUMMED[0], 3)]},
        {"add": [42]},
        {"add": [None]},
        {"add": [{"label": "no address"}]},
        {"add": "0x" + "a" * 40},
        {"remove": [{"address": CHECKSUMMED[0]}]},  # removal takes plain addresses
        {"remove": ["0x" + "a" * 40 + "\n"]},
        {"replace": []},
    ],
)
def test_address_change_refuses(body):
    with pytest.raises(ValidationError):
        AddressChange.model_validate(body)


def test_only_the_secret_answer_has_a_secret():
    assert "secret" not in MonitorOut.model_fields
    assert MonitorWithSecret.model_fields["secret"].is_required()
