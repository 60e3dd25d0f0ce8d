"""Which webhook URLs blockhook will post to.

In the cloud a webhook must not reach into our own network (SSRF): loopback, private, link-local
(the instance metadata service at 169.254.169.254 and fd00:ec2::254), multicast, reserved and
unspecified addresses are refused, also when hidden in IPv6 (IPv4-mapped, 6to4, Teredo, NAT64)
or in legacy numeric IPv4 forms such as `2130706433` or `127.1`. Local mode passes
`allow_private=True`.

Two steps: `validate_webhook_url` is static (no DNS), for the API to answer 422 at once;
`resolve_webhook_url` resolves the host once at delivery time and returns the address to connect
to, so that a DNS answer cannot change between the check and the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
REFUSED_HOSTNAMES = ("localhost",)
REFUSED_HOST_SUFFIXES = (".localhost", ".internal")

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class WebhookUrlRefused(ValueError):
    """The URL may not be used as a webhook; the message says why (for the API's 422)."""


class WebhookHostNotResolved(WebhookUrlRefused):
    """The host did not resolve. Unlike other refusals this can be temporary: worth a retry."""


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    address: str | None


def _parse_address(text: str) -> IpAddress | None:
    """The IP address `text` denotes, also in legacy numeric IPv4 forms getaddrinfo accepts; else None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(ch in "0123456789abcdefxABCDEFX." for ch in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def address_refusal(address: str | IpAddress) -> str | None:
    """Why this address may not be a webhook target (e.g. "loopback"), or None when it may."""
    ip = address if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address) else None
    if ip is None:
        ip = _parse_address(str(address).split("%", 1)[0])
        if ip is None:
            return "not an IP address"
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_reason(ip)
    embedded: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        embedded.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        embedded.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        embedded.extend(("Teredo", part) for part in ip.teredo)
    if ip in _NAT64_WELL_KNOWN:
        embedded.append(("NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    for kind, inner in embedded:
        reason = _ipv4_reason(inner)
        if reason is not None:
            return f"{kind} {reason} ({inner})"
    if ip in _NAT64_LOCAL_USE:
        return "NAT64 local-use"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("site-local", ip.is_site_local),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    )
    return next((reason for reason, hit in checks if hit), None)


def _split(url: object) -> SplitResult:
    if not isinstance(url, str):
        raise WebhookUrlRefused("webhook URL must be a string")
    if not url:
        raise WebhookUrlRefused("webhook URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise WebhookUrlRefused("webhook URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise WebhookUrlRefused(f"webhook URL cannot be parsed: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise WebhookUrlRefused(
            f"webhook URL scheme must be http or https, not {parts.scheme or 'missing'!r}"
        )
    if "@" in parts.netloc:
        raise WebhookUrlRefused("webhook URL must not carry credentials (user:password@)")
    if "\\" in parts.netloc:
        raise WebhookUrlRefused("webhook URL host contains a backslash")
    if not parts.hostname:
        raise WebhookUrlRefused("webhook URL has no host")
    try:
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused("webhook URL has an invalid port") from None
    if port == 0:
        raise WebhookUrlRefused("webhook URL has an invalid port 0")
    return parts


def _host_refusal(host: str) -> str | None:
    """Why a host (name or literal address, as in the URL) is refused, or None."""
    name = host[:-1] if host.endswith(".") else host
    name = name.lower()
    address = _parse_address(name.split("%", 1)[0])
    if address is not None:
        reason = address_refusal(address)
        return f"webhook URL host {host} is refused: {reason} address" if reason else None
    if name in REFUSED_HOSTNAMES or name.endswith(REFUSED_HOST_SUFFIXES):
        return f"webhook URL host {host} is refused: local host name"
    return None


def validate_webhook_url(url: str, allow_private: bool) -> None:
    """Static checks, no DNS. Raises WebhookUrlRefused saying why."""
    parts = _split(url)
    if not allow_private:
        reason = _host_refusal(parts.hostname)
        if reason:
            raise WebhookUrlRefused(reason)


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


def resolve_webhook_url(url: str, allow_private: bool, resolver: Resolver | None = None) -> CheckedUrl:
    """Validate, resolve the host once, refuse when ANY address is refused; the first address is returned.

    A literal IP host is not resolved. Raises WebhookUrlRefused, or its subclass
    WebhookHostNotResolved when the name does not resolve.
    """
    validate_webhook_url(url, allow_private)
    parts = _split(url)
    host = parts.hostname
    literal = _parse_address(host.split("%", 1)[0])
    if literal is not None:
        return CheckedUrl(url=url, host=host, address=str(literal))
    port = parts.port or DEFAULT_PORTS[parts.scheme.lower()]
    try:
        found = (resolver or _system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise WebhookHostNotResolved(f"webhook URL host {host} does not resolve: {exc}") from None
    addresses: list[str] = []
    for raw in found:
        ip = _parse_address(str(raw).split("%", 1)[0])
        if ip is None:
            raise WebhookHostNotResolved(f"webhook URL host {host} resolved to a non-address {raw!r}")
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        raise WebhookHostNotResolved(f"webhook URL host {host} resolved to no address")
    if not allow_private:
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise WebhookUrlRefused(
                    f"webhook URL host {host} is refused: it resolves to {address}, {reason} address"
                )
    return CheckedUrl(url=url, host=host, address=addresses[0])
