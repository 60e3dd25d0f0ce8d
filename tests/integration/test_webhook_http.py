"""post_webhook against real HTTP(S) receivers on 127.0.0.1."""

import datetime
import json
import socket
import ssl
import time
from types import SimpleNamespace

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from blockhook.delivery.http import (
    EXCERPT_CHARS,
    AttemptResult,
    post_webhook,
    webhook_session,
)
from blockhook.delivery.payload import build_payloads, encode_body
from blockhook.delivery.service import post_signed
from blockhook.delivery.signing import DELIVERY_ID_HEADER, SIGNATURE_HEADER, webhook_headers
from blockhook.local.servers import free_port
from tests.support.receiver import (
    WebhookReceiver,
    close_connection,
    delay,
    status,
    trickle_body,
    trickle_headers,
)

pytestmark = pytest.mark.integration

SECRET = "whsec_integration"
BLOCK = {"number": 7, "hash": "0x" + "77" * 32, "parent_hash": "0x" + "66" * 32, "timestamp": 1730000000}
EVENT = {"id": "31337:0x77:0:tx:transaction", "kind": "transaction", "tx_index": 0, "log_index": None}


def signed_request(timestamp=None):
    (payload,) = build_payloads("mon_1", 31337, BLOCK, [EVENT], removed=False)
    body = encode_body(payload)
    headers = webhook_headers(payload["id"], [SECRET], body, timestamp or int(time.time()))
    return payload, body, headers


@pytest.fixture
def dns_spy(monkeypatch):
    """Records every getaddrinfo call; names other than numeric addresses never reach real DNS."""
    real = socket.getaddrinfo
    calls = []

    def spy(host, *args, **kwargs):
        calls.append(host)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, host)
        except (OSError, TypeError):
            raise socket.gaierror(socket.EAI_NONAME, f"test forbids resolving {host!r}") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return calls


def test_200_is_ok_and_the_receiver_gets_the_signed_body():
    payload, body, headers = signed_request()
    with WebhookReceiver(status(200, body="thanks")) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
        (request,) = receiver.requests
        receiver.verify_all(SECRET)

    assert isinstance(result, AttemptResult)
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    assert result.response_excerpt == "thanks"
    assert result.latency_ms >= 0
    assert request.method == "POST"
    assert request.path == "/webhook"
    assert request.body == body
    assert request.json() == payload
    assert request.header("content-type") == "application/json"
    assert request.header(DELIVERY_ID_HEADER) == payload["id"]
    assert request.header(SIGNATURE_HEADER) == headers[SIGNATURE_HEADER]
    assert request.header("User-Agent") == "blockhook/0.1"


def test_204_is_ok():
    _, body, headers = signed_request()
    with WebhookReceiver(status(204)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
    assert (result.ok, result.status_code, result.error, result.response_excerpt) == (True, 204, None, "")


@pytest.mark.parametrize("code", [400, 404, 410, 429, 500, 503])
def test_error_status_is_not_ok(code):
    _, body, headers = signed_request()
    with WebhookReceiver(status(code, body='{"error":"nope"}')) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
        assert len(receiver.requests) == 1
    assert (result.ok, result.status_code, result.error) == (False, code, f"HTTP {code}")
    assert result.response_excerpt == '{"error":"nope"}'


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect_is_not_followed(code):
    _, body, headers = signed_request()
    with WebhookReceiver() as target:
        with WebhookReceiver(status(code, headers={"Location": target.url + "/elsewhere"})) as receiver:
            result = post_webhook(receiver.url, body, headers, timeout=5)
            assert len(receiver.requests) == 1
        assert target.requests == []
    assert (result.ok, result.status_code, result.error) == (False, code, "redirect not followed")


def test_slow_server_beyond_timeout_is_a_timeout():
    _, body, headers = signed_request()
    with WebhookReceiver(delay(5.0)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=0.5)
        assert len(receiver.requests) == 1
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "timeout: no answer within 0.5s"


def test_slow_server_within_timeout_is_ok():
    _, body, headers = signed_request()
    with WebhookReceiver(delay(0.2)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
    assert (result.ok, result.status_code) == (True, 200)


def test_server_trickling_headers_is_cut_at_the_deadline():
    # Each byte arrives well inside the read timeout; only the watchdog ends this in time.
    # Were it missing, the server would give up after 200 bytes and the error would be a closed connection.
    _, body, headers = signed_request()
    with WebhookReceiver(trickle_headers(interval=0.05, count=200)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=0.5)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "timeout: no answer within 0.5s"


def test_trickling_body_after_a_2xx_keeps_the_status_and_a_shorter_excerpt():
    answer = "x" * 200
    _, body, headers = signed_request()
    with WebhookReceiver(trickle_body(answer, interval=0.05)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=0.5)
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    assert answer.startswith(result.response_excerpt)
    assert len(result.response_excerpt) < len(answer)


def test_connection_closed_without_answer():
    _, body, headers = signed_request()
    with WebhookReceiver(close_connection()) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
        assert len(receiver.requests) == 1
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "connection closed without answer"


def test_refused_port():
    _, body, headers = signed_request()
    result = post_webhook(f"http://127.0.0.1:{free_port()}/webhook", body, headers, timeout=5)
    assert (result.ok, result.status_code, result.error) == (False, None, "connection refused")


def test_excerpt_is_the_first_256_characters():
    answer = "".join(chr(ord("a") + n % 26) for n in range(1000))
    _, body, headers = signed_request()
    with WebhookReceiver(status(200, answer)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
    assert EXCERPT_CHARS == 256
    assert result.response_excerpt == answer[:256]


def test_excerpt_counts_characters_not_bytes():
    answer = "é✓" * 500
    _, body, headers = signed_request()
    with WebhookReceiver(status(500, answer)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
    assert result.response_excerpt == answer[:256]


def test_large_body_is_capped_not_an_error():
    answer = b"z" * (3 * 1024 * 1024)
    _, body, headers = signed_request()
    with WebhookReceiver(status(200, answer)) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=10)
    assert (result.ok, result.status_code) == (True, 200)
    assert result.response_excerpt == "z" * 256


def test_invalid_binary_body_gives_a_readable_excerpt():
    _, body, headers = signed_request()
    with WebhookReceiver(status(502, b"\xff\xfe bad \x80")) as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
    assert result.status_code == 502
    assert "bad" in result.response_excerpt


def test_connect_to_keeps_the_host_name_and_skips_dns(dns_spy):
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        url = f"http://hooks.example.test:{receiver.port}/x?y=1"
        result = post_webhook(url, body, headers, timeout=5, connect_to="127.0.0.1")
        (request,) = receiver.requests
    assert (result.ok, result.status_code) == (True, 200)
    assert request.header("Host") == f"hooks.example.test:{receiver.port}"
    assert request.path == "/x?y=1"
    assert request.body == body
    assert "hooks.example.test" not in dns_spy


def test_without_connect_to_the_name_is_resolved(dns_spy):
    # The counterpart of the test above: the spy does see a lookup when no address is pinned.
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        result = post_webhook(f"http://hooks.example.test:{receiver.port}/x", body, headers, timeout=5)
        assert receiver.requests == []
    assert (result.ok, result.error) == (False, "host not resolved")
    assert "hooks.example.test" in dns_spy


def test_a_delivery_connects_to_the_address_the_url_policy_checked(monkeypatch):
    # DNS rebinding: the name answers loopback to the check, then an unreachable address. The post
    # must go to the checked address, resolving the name once (post_signed passes it as connect_to).
    answers = iter(["127.0.0.1"])
    lookups = []
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = next(answers, "192.0.2.1")  # TEST-NET-1: nothing answers there
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    _, body, _ = signed_request()
    with WebhookReceiver() as receiver:
        monitor = SimpleNamespace(webhook_url=f"http://rebind.example.test:{receiver.port}/hook")
        result = post_signed(monitor, "dlv_" + "0" * 32, body, time.time(), True, [SECRET])
        (request,) = receiver.requests
    assert (result.ok, result.status_code) == (True, 200)
    assert lookups == ["rebind.example.test"]
    assert request.header("Host") == f"rebind.example.test:{receiver.port}"


def test_connect_to_overrides_a_host_header_from_the_caller():
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        result = post_webhook(
            f"http://hooks.example.test:{receiver.port}/x",
            body,
            {**headers, "host": "evil.example"},
            timeout=5,
            connect_to="127.0.0.1",
        )
        (request,) = receiver.requests
    assert result.ok
    assert request.header("Host") == f"hooks.example.test:{receiver.port}"


@pytest.mark.parametrize("connect_to", ["not-an-ip", "hooks.example.test", ""])
def test_bad_connect_to_is_a_result_not_an_exception(connect_to):
    _, body, headers = signed_request()
    result = post_webhook("http://hooks.example.test/x", body, headers, timeout=1, connect_to=connect_to)
    assert result.ok is False
    assert result.error.startswith("invalid url")


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/x", "http://"])
def test_bad_url_is_a_result_not_an_exception(url):
    _, body, headers = signed_request()
    result = post_webhook(url, body, headers, timeout=1)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error


def test_kept_alive_connection_is_reused_and_still_bounded():
    _, body, headers = signed_request()
    session = webhook_session()
    try:
        with WebhookReceiver(status(200), trickle_headers(interval=0.05, count=200)) as receiver:
            first = post_webhook(receiver.url, body, headers, timeout=5, session=session)
            second = post_webhook(receiver.url, body, headers, timeout=0.5, session=session)
            requests_seen = receiver.requests
    finally:
        session.close()
    assert first.ok
    assert len(requests_seen) == 2
    assert requests_seen[0].client_port == requests_seen[1].client_port  # one connection, kept alive
    assert (second.ok, second.error) == (False, "timeout: no answer within 0.5s")


def test_any_requests_session_can_be_passed():
    _, body, headers = signed_request()
    with requests.Session() as session, WebhookReceiver(status(202), status(503)) as receiver:
        first = post_webhook(receiver.url, body, headers, timeout=5, session=session)
        second = post_webhook(receiver.url, body, headers, timeout=5, session=session)
    assert (first.ok, first.status_code) == (True, 202)
    assert (second.ok, second.status_code) == (False, 503)


def test_session_does_not_use_proxies_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        result = post_webhook(receiver.url, body, headers, timeout=5)
        assert len(receiver.requests) == 1
    assert result.ok


# --- receiver helpers -------------------------------------------------------------------------------


def test_receiver_wait_for_and_verify_all():
    _, body, headers = signed_request()
    with WebhookReceiver(status(500)) as receiver:
        post_webhook(receiver.url, body, headers, timeout=5)
        post_webhook(receiver.url, body, headers, timeout=5)
        seen = receiver.wait_for(lambda requests: len(requests) >= 2, timeout=5)
        assert [json.loads(r.body)["id"] for r in seen] == [headers[DELIVERY_ID_HEADER]] * 2
        assert receiver.verify_all(SECRET) == seen
        with pytest.raises(AssertionError, match="2 of 2"):
            receiver.verify_all("whsec_wrong")
        with pytest.raises(AssertionError, match="not met"):
            receiver.wait_for(lambda requests: len(requests) >= 3, timeout=0.2)


def test_receiver_reads_chunked_bodies():
    with WebhookReceiver() as receiver:
        answer = requests.post(receiver.url, data=iter([b'{"a":', b"1}"]), timeout=5)
        (request,) = receiver.requests
    assert answer.status_code == 200
    assert request.header("Transfer-Encoding") == "chunked"
    assert request.json() == {"a": 1}


def test_receiver_verify_all_catches_a_tampered_body():
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        post_webhook(receiver.url, body + b" ", headers, timeout=5)
        with pytest.raises(AssertionError, match="1 of 1"):
            receiver.verify_all(SECRET)


# --- https ------------------------------------------------------------------------------------------


def _certificate(subject_name, issuer_name, public_key, signing_key, *, ca, dns_name=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns_name:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A test CA and a server certificate for hooks.example.test signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("blockhook test CA", "blockhook test CA", ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(
        "hooks.example.test",
        "blockhook test CA",
        server_key.public_key(),
        ca_key,
        ca=False,
        dns_name="hooks.example.test",
    )
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(
        server_cert.public_bytes(serialization.Encoding.PEM)
        + server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder


@pytest.fixture
def server_tls(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "server.pem")
    return context


def test_https_connect_to_uses_sni_and_verifies_the_host_name(tls_files, server_tls, dns_spy):
    _, body, headers = signed_request()
    session = webhook_session()
    session.verify = str(tls_files / "ca.pem")
    try:
        with WebhookReceiver(ssl_context=server_tls) as receiver:
            url = f"https://hooks.example.test:{receiver.port}/secure"
            result = post_webhook(url, body, headers, timeout=5, session=session, connect_to="127.0.0.1")
            (request,) = receiver.requests
    finally:
        session.close()
    assert (result.ok, result.status_code, result.error) == (True, 200, None)
    assert request.header("Host") == f"hooks.example.test:{receiver.port}"
    assert request.body == body
    assert "hooks.example.test" not in dns_spy


def test_https_certificate_for_another_name_is_refused(tls_files, server_tls):
    _, body, headers = signed_request()
    session = webhook_session()
    session.verify = str(tls_files / "ca.pem")
    try:
        with WebhookReceiver(ssl_context=server_tls) as receiver:
            url = f"https://other.example.test:{receiver.port}/secure"
            result = post_webhook(url, body, headers, timeout=5, session=session, connect_to="127.0.0.1")
            assert receiver.requests == []
    finally:
        session.close()
    assert (result.ok, result.status_code) == (False, None)
    assert result.error.startswith("TLS error")
    assert "hooks.example.test" in result.error or "match" in result.error


def test_https_untrusted_certificate_is_a_tls_error(server_tls):
    # Default session: the system trust store, which does not know the test CA.
    _, body, headers = signed_request()
    with WebhookReceiver(ssl_context=server_tls) as receiver:
        url = f"https://hooks.example.test:{receiver.port}/secure"
        result = post_webhook(url, body, headers, timeout=5, connect_to="127.0.0.1")
        assert receiver.requests == []
    assert (result.ok, result.status_code) == (False, None)
    assert result.error.startswith("TLS error")


def test_https_to_a_plain_http_server_is_a_tls_error():
    _, body, headers = signed_request()
    with WebhookReceiver() as receiver:
        result = post_webhook(f"https://127.0.0.1:{receiver.port}/webhook", body, headers, timeout=5)
    assert (result.ok, result.status_code) == (False, None)
    assert result.error.startswith("TLS error")
