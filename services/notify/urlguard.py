"""Which addresses a webhook may reach: public ones only, checked on the address actually connected to.

A URL is parsed without DNS (`parse_url`), then resolved once (`pin`): every address the name
resolves to must be public, and the caller connects to the address returned, never resolving
again, so a name that answers a public address at the check and 127.0.0.1 a moment later
(DNS rebinding) gets nowhere. Loopback is allowed only by an explicit dev/test setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as text. Tests inject their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Names of cloud metadata services (they answer on link-local or other non-public addresses anyway).
BLOCKED_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.tencentyun.com",
        "100-100-100-200.metadata",
    }
)
# Named so the refusal says what it is; every one is also outside the public ranges.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# A host whose last label is a number is an IPv4 address to URL parsers and inet_aton
# (0x7f000001, 2130706433, 0177.0.0.1, 127.1): refused unless it is the plain dotted form.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UnsafeUrl(ValueError):
    """A webhook URL or address notify refuses, with the reason."""


class Unresolvable(UnsafeUrl):
    """The host does not resolve now (a delivery retries; a new subscription is refused)."""


@dataclass(frozen=True)
class WebhookTarget:
    """A parsed webhook URL: where to connect (after `pin`) and what to say in Host and TLS SNI."""

    scheme: str
    host: str  # lower-case ASCII (IDNA), no brackets
    port: int
    path: str  # path and query, as sent
    literal: IPAddress | None  # the host when it is an IP address

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def destination(self) -> str:
        """scheme://host:port, the key of per-destination limits and connection pools."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """Every IPv4 address an IPv6 form carries (mapped, compatible, 6to4, Teredo, NAT64), then the address."""
    found: list[IPAddress] = []
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found += list(ip.teredo)
        if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [*found, ip]


def address_problem(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why notify will not connect to `ip`, or None when it may (public, or loopback when allowed)."""
    for each in _embedded(ip):
        if each in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if each.is_loopback:
            # Loopback wrapped in an IPv6 form is never the dev setting's plain 127.0.0.1 or ::1.
            if each is not ip:
                return "a loopback address in an IPv6 form"
            if not allow_loopback:
                return "a loopback address (allowed only by the dev setting LASTMETER_WEBHOOK_ALLOW_LOOPBACK)"
            continue
        if each.is_unspecified:
            return "the unspecified address"
        if each.is_link_local:
            return "a link-local address"
        if each.is_multicast:
            return "a multicast address"
        if isinstance(each, ipaddress.IPv4Address) and each in _CGNAT:
            return "a shared (CGNAT) address"
        if each.is_private:
            return "a private address"
        if each.is_reserved or not each.is_global:
            return "a reserved address"
        if isinstance(each, ipaddress.IPv6Address) and each.is_site_local:
            return "a site-local address"
    return None


def _ascii_host(raw: str) -> str:
    host = raw.rstrip(".").lower()
    if host.isascii():
        return host
    try:
        # IDNA also maps look-alikes such as full-width digits to ASCII before they are checked.
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsafeUrl(f"the host is not a valid domain name ({exc})") from None


def parse_url(url: str, *, allow_loopback: bool) -> WebhookTarget:
    """Validate a webhook URL without DNS. Raises UnsafeUrl saying why not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("credentials in the URL are not allowed; use the signing secret")
    host = _ascii_host(parts.hostname or "")
    if not host:
        raise UnsafeUrl("the URL has no host")
    if port == 0:
        raise UnsafeUrl("port 0 is not allowed")
    if host in BLOCKED_HOSTS or host.endswith(".metadata.google.internal"):
        raise UnsafeUrl(f"{host} is a cloud metadata host")
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        raise UnsafeUrl(f"{host} is a loopback address (allowed only by the dev setting)")
    literal: IPAddress | None = None
    try:
        literal = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            raise UnsafeUrl(f"{host} is an obfuscated IP address (hex, octal, decimal or short form)") from None
    if literal is not None and "%" in host:
        raise UnsafeUrl("zone ids in addresses are not allowed")
    if literal is not None and (reason := address_problem(literal, allow_loopback=allow_loopback)):
        raise UnsafeUrl(f"{literal} is {reason}")
    scheme = parts.scheme
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return WebhookTarget(scheme, host, port or (443 if scheme == "https" else 80), path, literal)


def check_url(url: str, *, allow_loopback: bool) -> str:
    """Validate a webhook URL without DNS; returns its host."""
    return parse_url(url, allow_loopback=allow_loopback).host


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (TCP)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def pin(target: WebhookTarget, *, resolver: Resolver, allow_loopback: bool) -> IPAddress:
    """Resolve the host once and return the address to connect to; every address it has must be allowed.

    Refusing the whole name when any of its addresses is refused keeps a name that mixes a public
    address with an internal one from reaching the internal one on a retry.
    """
    if target.literal is not None:
        if reason := address_problem(target.literal, allow_loopback=allow_loopback):
            raise UnsafeUrl(f"{target.literal} is {reason}")
        return target.literal
    try:
        answers = await resolver(target.host, target.port)
    except OSError as exc:
        raise Unresolvable(f"{target.host} does not resolve ({exc.strerror or exc})") from None
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%")[0]))
        except ValueError:
            raise UnsafeUrl(f"{target.host} resolves to something that is not an IP address") from None
    if not addresses:
        raise Unresolvable(f"{target.host} does not resolve")
    for ip in addresses:
        if reason := address_problem(ip, allow_loopback=allow_loopback):
            # The address itself is not named: it would tell a caller what internal names resolve to.
            raise UnsafeUrl(f"{target.host} resolves to {reason}")
    return addresses[0]
