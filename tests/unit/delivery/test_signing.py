import time

import pytest

from blockhook.delivery.signing import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    sign,
    signature_header,
    standard_signature,
    verify,
    webhook_headers,
)
from blockhook.store.secret_box import new_secret

BODY = b'{"id":"dlv_1","events":[]}'
TIMESTAMP = 1730000000
SECRET = "whsec_test_secret"
OLD_SECRET = "whsec_old_secret"
# Computed once by hand and checked with:
#   printf '%s' '1730000000.{"id":"dlv_1","events":[]}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
EXPECTED_HEX = "d729f18bef56501346753d89a52bd4624194312ec39ceb9195228236e9252af4"
#   ... | openssl dgst -sha256 -hmac 'whsec_old_secret'
EXPECTED_OLD_HEX = "fdcddb6464db97bb5cfa4e1ea0d0e2b89f261b2fadbe6e2d646b4d4cf8eb9c66"


def test_sign_matches_known_vector():
    assert sign(SECRET, TIMESTAMP, BODY) == EXPECTED_HEX
    assert sign(OLD_SECRET, TIMESTAMP, BODY) == EXPECTED_OLD_HEX


def test_signature_header_one_secret():
    assert signature_header([SECRET], TIMESTAMP, BODY) == f"t={TIMESTAMP},v1={EXPECTED_HEX}"


def test_signature_header_rotation_lists_current_secret_first():
    header = signature_header([SECRET, OLD_SECRET], TIMESTAMP, BODY)
    assert header == f"t={TIMESTAMP},v1={EXPECTED_HEX},v1={EXPECTED_OLD_HEX}"
    assert verify(header, BODY, SECRET, now=TIMESTAMP)
    assert verify(header, BODY, OLD_SECRET, now=TIMESTAMP)
    assert not verify(header, BODY, "whsec_someone_else", now=TIMESTAMP)


@pytest.mark.parametrize("secrets", [[], (), "whsec_a_bare_string"])
def test_signature_header_refuses_no_secrets(secrets):
    with pytest.raises(ValueError):
        signature_header(secrets, TIMESTAMP, BODY)


def test_verify_accepts_own_signature():
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert verify(header, BODY, SECRET, now=TIMESTAMP)


def test_verify_tolerates_spaces_and_unknown_schemes():
    header = f"t={TIMESTAMP}, v0=whatever, v1={EXPECTED_HEX}"
    assert verify(header, BODY, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize(
    "tampered_body",
    [BODY + b" ", BODY.replace(b"dlv_1", b"dlv_2"), b"", BODY[:-1]],
)
def test_verify_rejects_tampered_body(tampered_body):
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert not verify(header, tampered_body, SECRET, now=TIMESTAMP)


def test_verify_rejects_tampered_timestamp():
    # The timestamp is signed: moving it invalidates the signature even inside the tolerance.
    header = f"t={TIMESTAMP + 1},v1={EXPECTED_HEX}"
    assert not verify(header, BODY, SECRET, now=TIMESTAMP)


def test_verify_rejects_flipped_signature_digit():
    flipped = EXPECTED_HEX[:-1] + ("0" if EXPECTED_HEX[-1] != "0" else "1")
    assert not verify(f"t={TIMESTAMP},v1={flipped}", BODY, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={EXPECTED_HEX}",  # no timestamp
        f"t={TIMESTAMP}",  # no signature
        f"t=abc,v1={EXPECTED_HEX}",
        f"t=-{TIMESTAMP},v1={EXPECTED_HEX}",
        f"t={TIMESTAMP},t={TIMESTAMP},v1={EXPECTED_HEX}",  # two timestamps
        f"t={TIMESTAMP},v1={EXPECTED_HEX[:-2]}",  # short
        f"t={TIMESTAMP},v1={EXPECTED_HEX.upper()}",  # we write lowercase only
        f"t={TIMESTAMP},v1={'z' * 64}",
        f"t={TIMESTAMP},v1",
        f"t={TIMESTAMP};v1={EXPECTED_HEX}",
        f"t=１７３０000000,v1={EXPECTED_HEX}",  # non-ASCII digits
        None,
        12345,
        b"t=1,v1=00",
    ],
)
def test_verify_malformed_header_is_false_not_an_error(header):
    assert verify(header, BODY, SECRET, now=TIMESTAMP) is False


def test_verify_wrong_body_type_is_false_not_an_error():
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert verify(header, BODY.decode(), SECRET, now=TIMESTAMP) is False
    assert verify(header, None, SECRET, now=TIMESTAMP) is False


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_verify_within_tolerance(offset):
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert verify(header, BODY, SECRET, tolerance_seconds=300, now=TIMESTAMP + offset)


@pytest.mark.parametrize("offset", [-301, 301, 86400])
def test_verify_outside_tolerance(offset):
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert not verify(header, BODY, SECRET, tolerance_seconds=300, now=TIMESTAMP + offset)


def test_verify_custom_tolerance():
    header = signature_header([SECRET], TIMESTAMP, BODY)
    assert verify(header, BODY, SECRET, tolerance_seconds=3600, now=TIMESTAMP + 3600)
    assert not verify(header, BODY, SECRET, tolerance_seconds=10, now=TIMESTAMP + 11)


def test_verify_defaults_to_wall_clock():
    # TIMESTAMP is in 2024: far outside 300 s of any present-day clock.
    assert not verify(signature_header([SECRET], TIMESTAMP, BODY), BODY, SECRET)
    now = int(time.time())
    assert verify(signature_header([SECRET], now, BODY), BODY, SECRET)


def test_webhook_headers():
    headers = webhook_headers("dlv_abc", [SECRET, OLD_SECRET], BODY, TIMESTAMP)
    standard = headers.pop("webhook-signature")
    assert headers == {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: "dlv_abc",
        SIGNATURE_HEADER: f"t={TIMESTAMP},v1={EXPECTED_HEX},v1={EXPECTED_OLD_HEX}",
        "webhook-id": "dlv_abc",
        "webhook-timestamp": str(TIMESTAMP),
        "User-Agent": "blockhook/0.1",
    }
    assert DELIVERY_ID_HEADER == "Blockhook-Delivery-Id"
    assert SIGNATURE_HEADER == "Blockhook-Signature"
    current, old = standard.split(" ")
    assert current.startswith("v1,") and old.startswith("v1,")


def test_standard_webhooks_reference_library_verifies_each_secret_of_a_rotation():
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    now = int(time.time())
    secret, old = new_secret(), new_secret()
    headers = webhook_headers("dlv_abc", [secret, old], BODY, now)
    for holder in (secret, old):
        assert Webhook(holder).verify(BODY, headers, json_parse=False) is None
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    # and what the library signs is what blockhook signs
    expected = Webhook(secret).sign("dlv_abc", datetime.fromtimestamp(now, tz=UTC), BODY)
    assert expected == standard_signature([secret], "dlv_abc", now, BODY)


def test_non_ascii_secret_and_body_round_trip():
    body = '{"label":"Kundin-42 ✓"}'.encode()
    header = signature_header(["sécret"], TIMESTAMP, body)
    assert verify(header, body, "sécret", now=TIMESTAMP)
    assert not verify(header, body, "secret", now=TIMESTAMP)
