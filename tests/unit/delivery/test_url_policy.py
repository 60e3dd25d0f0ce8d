import re
import socket

import pytest

from blockhook.delivery.url_policy import (
    CheckedUrl,
    WebhookHostNotResolved,
    WebhookUrlRefused,
    address_refusal,
    resolve_webhook_url,
    validate_webhook_url,
)


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch):
    """Tests never resolve names for real: any attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"real DNS lookup attempted: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def resolver_for(mapping):
    calls = []

    def resolve(host, port):
        calls.append((host, port))
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(mapping[host])

    resolve.calls = calls
    return resolve


REFUSED_LITERALS = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # EC2 instance metadata
    "169.254.0.1": "link-local",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "private",  # reserved 240/4 (Python files it under private)
    "255.255.255.255": "private",
    "100.64.0.1": "not globally routable",  # carrier-grade NAT
    "198.18.0.1": "private",  # benchmarking
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fd00:ec2::254": "private",  # EC2 instance metadata over IPv6
    "fc00::1": "private",
    "ff02::1": "multicast",
    "fec0::1": "site-local",
    "2001:db8::1": "private",  # documentation
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:169.254.169.254": "IPv4-mapped link-local",
    "::ffff:10.1.2.3": "IPv4-mapped private",
    "2002:a9fe:a9fe::1": "6to4 link-local",
    "64:ff9b::a9fe:a9fe": "NAT64 link-local",
    "64:ff9b:1::1": "NAT64 local-use",
    "::7f00:1": "reserved",  # IPv4-compatible, deprecated
}

PUBLIC_ADDRESSES = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize(("address", "reason"), REFUSED_LITERALS.items())
def test_address_refusal_names_the_range(address, reason):
    assert address_refusal(address).startswith(reason)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_address_refusal_allows_public(address):
    assert address_refusal(address) is None


def test_address_refusal_of_a_non_address():
    assert address_refusal("example.com") == "not an IP address"


@pytest.mark.parametrize("address", REFUSED_LITERALS)
def test_literal_refused_address_in_url(address):
    host = f"[{address}]" if ":" in address else address
    url = f"https://{host}:8443/hook"
    with pytest.raises(WebhookUrlRefused, match="refused"):
        validate_webhook_url(url, allow_private=False)
    with pytest.raises(WebhookUrlRefused):
        resolve_webhook_url(url, allow_private=False, resolver=resolver_for({}))
    validate_webhook_url(url, allow_private=True)  # local mode takes them


@pytest.mark.parametrize(
    "host",
    ["2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "0x7f000001", "0xa9fea9fe"],
)
def test_legacy_numeric_ipv4_forms_are_recognised(host):
    with pytest.raises(WebhookUrlRefused, match="refused"):
        validate_webhook_url(f"http://{host}/hook", allow_private=False)


def test_legacy_numeric_public_ipv4_resolves_to_canonical_form_without_dns():
    checked = resolve_webhook_url("http://134744072/hook", allow_private=False, resolver=resolver_for({}))
    assert checked.address == "8.8.8.8"


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "api.localhost",
        "metadata.google.internal",
        "db.corp.internal",
        "x.INTERNAL.",
    ],
)
def test_local_names_refused(host):
    with pytest.raises(WebhookUrlRefused, match="local host name"):
        validate_webhook_url(f"https://{host}/hook", allow_private=False)
    validate_webhook_url(f"https://{host}/hook", allow_private=True)


@pytest.mark.parametrize(
    "host",
    ["localhost.example.com", "internal.example.com", "mylocalhost", "example.internalfoo"],
)
def test_names_that_only_look_local_pass_static_checks(host):
    validate_webhook_url(f"https://{host}/hook", allow_private=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("example.com/hook", "scheme"),
        ("", "empty"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https://:443/path", "no host"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https://example.com:99999/", "invalid port"),
        ("https://example.com:abc/", "invalid port"),
        ("https://example.com:0/", "invalid port"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\r\nX-Injected: 1", "control"),
        ("https://evil.example\\@127.0.0.1/", "credentials"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_malformed_urls_refused_with_reason(url, reason):
    with pytest.raises(WebhookUrlRefused, match=reason):
        validate_webhook_url(url, allow_private=True)


def test_non_string_url_refused():
    with pytest.raises(WebhookUrlRefused, match="string"):
        validate_webhook_url(None, allow_private=False)


def test_length_limit_is_inclusive():
    url = "https://example.com/"
    url += "a" * (2048 - len(url))
    assert len(url) == 2048
    validate_webhook_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/webhook",
        "http://hooks.example.com/webhook",
        "HTTPS://Hooks.Example.com:8443/a/b?c=d#frag",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]:8443/hook",
        "https://hooks.example.com:1/",
        "https://hooks.example.com:65535/",
    ],
)
def test_public_urls_pass(url):
    validate_webhook_url(url, allow_private=False)


def test_resolve_returns_first_address_and_resolves_once():
    resolver = resolver_for({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::248", "93.184.216.34"]})
    checked = resolve_webhook_url("https://hooks.example.com/webhook", allow_private=False, resolver=resolver)
    assert checked == CheckedUrl(
        url="https://hooks.example.com/webhook", host="hooks.example.com", address="93.184.216.34"
    )
    assert resolver.calls == [("hooks.example.com", 443)]


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://hooks.example.com/", 80),
        ("https://hooks.example.com/", 443),
        ("http://hooks.example.com:8080/", 8080),
    ],
)
def test_resolve_passes_the_effective_port(url, port):
    resolver = resolver_for({"hooks.example.com": ["8.8.8.8"]})
    resolve_webhook_url(url, allow_private=False, resolver=resolver)
    assert resolver.calls == [("hooks.example.com", port)]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("127.0.0.1", "127.0.0.1, loopback"),
        ("169.254.169.254", "169.254.169.254, link-local"),
        ("fd00:ec2::254", "fd00:ec2::254, private"),
        ("::ffff:10.0.0.1", "IPv4-mapped private (10.0.0.1)"),
        ("10.0.0.5", "10.0.0.5, private"),
    ],
)
def test_resolve_refuses_when_any_address_is_refused(bad, named):
    resolver = resolver_for({"rebind.example.com": ["8.8.8.8", bad]})
    with pytest.raises(WebhookUrlRefused, match=re.escape(named)):
        resolve_webhook_url("https://rebind.example.com/", allow_private=False, resolver=resolver)


def test_resolve_allows_private_in_local_mode():
    resolver = resolver_for({"receiver.local.test": ["127.0.0.1"]})
    checked = resolve_webhook_url("http://receiver.local.test:9000/x", allow_private=True, resolver=resolver)
    assert checked.address == "127.0.0.1"
    assert checked.host == "receiver.local.test"


def test_resolve_strips_ipv6_scope():
    resolver = resolver_for({"v6.example.com": ["2606:4700:4700::1111%eth0"]})
    checked = resolve_webhook_url("https://v6.example.com/", allow_private=False, resolver=resolver)
    assert checked.address == "2606:4700:4700::1111"


def test_resolve_literal_ip_needs_no_resolver():
    resolver = resolver_for({})
    checked = resolve_webhook_url("https://[2606:4700:4700::1111]/x", allow_private=False, resolver=resolver)
    assert checked == CheckedUrl(
        url="https://[2606:4700:4700::1111]/x", host="2606:4700:4700::1111", address="2606:4700:4700::1111"
    )
    assert resolver.calls == []


def test_resolve_literal_loopback_in_local_mode():
    checked = resolve_webhook_url("http://127.0.0.1:8080/hook", allow_private=True, resolver=resolver_for({}))
    assert checked.address == "127.0.0.1"


def test_unresolvable_host_is_a_distinct_retryable_refusal():
    with pytest.raises(WebhookHostNotResolved, match="does not resolve") as caught:
        resolve_webhook_url("https://nowhere.example.com/", allow_private=False, resolver=resolver_for({}))
    assert isinstance(caught.value, WebhookUrlRefused)


@pytest.mark.parametrize("answer", [[], ["not-an-ip"]])
def test_empty_or_bogus_resolution_refused(answer):
    with pytest.raises(WebhookHostNotResolved):
        resolve_webhook_url(
            "https://odd.example.com/",
            allow_private=False,
            resolver=resolver_for({"odd.example.com": answer}),
        )


def test_resolve_validates_before_resolving():
    resolver = resolver_for({"localhost": ["8.8.8.8"]})
    with pytest.raises(WebhookUrlRefused, match="local host name"):
        resolve_webhook_url("https://localhost/", allow_private=False, resolver=resolver)
    assert resolver.calls == []


def test_default_resolver_is_getaddrinfo(monkeypatch):
    seen = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        seen.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.4.4", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    checked = resolve_webhook_url("https://hooks.example.com:8443/", allow_private=False)
    assert checked.address == "8.8.4.4"
    assert seen == [("hooks.example.com", 8443)]


def test_refusal_is_a_value_error_for_the_api():
    assert issubclass(WebhookUrlRefused, ValueError)
