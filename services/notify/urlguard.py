"""Which webhook URLs notify will call: http(s) only, never link-local or cloud metadata addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud metadata endpoints answer on link-local addresses or these names; a webhook pointed at
# them would let a subscriber read the host's credentials (SSRF).
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
# Link-local (169.254/16 holds AWS/GCP/Azure metadata), fe80::/10, and the metadata addresses
# some clouds keep elsewhere (Alibaba 100.100.100.200, AWS IPv6 fd00:ec2::254).
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "0.0.0.0/8", "::/128")
)


class UnsafeUrl(ValueError):
    """A webhook URL notify refuses, with the reason."""


def _blocked_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in net for net in BLOCKED_NETWORKS):
        return f"{ip} is a link-local or metadata address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_loopback and not allow_loopback:
        return f"{ip} is a loopback address (allowed only in dev and test)"
    return None


def check_url(url: str, *, allow_loopback: bool) -> str:
    """Validate a webhook URL without DNS; returns its host. Raises UnsafeUrl saying why not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("only http and https URLs are allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed; use the signing secret")
    if port == 0:
        raise UnsafeUrl("port 0 is not allowed")
    if host in BLOCKED_HOSTS or host.endswith(".metadata.google.internal"):
        raise UnsafeUrl(f"{host} is a cloud metadata host")
    if host == "localhost" or host.endswith(".localhost"):
        if not allow_loopback:
            raise UnsafeUrl(f"{host} is a loopback address (allowed only in dev and test)")
        return host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host.isdigit() or host.startswith("0x"):
            raise UnsafeUrl(f"{host} is an obfuscated IP address") from None
        return host
    reason = _blocked_address(ip, allow_loopback=allow_loopback)
    if reason:
        raise UnsafeUrl(reason)
    return host


async def check_resolved(url: str, *, allow_loopback: bool) -> None:
    """Resolve the URL's host and refuse it if any address is blocked (a name may hide 169.254.x.x)."""
    host = check_url(url, allow_loopback=allow_loopback)
    try:
        ipaddress.ip_address(host)
        return  # already checked as a literal
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return  # unresolvable now: the delivery fails and retries; nothing is reached
    for info in infos:
        reason = _blocked_address(ipaddress.ip_address(info[4][0].split("%")[0]), allow_loopback=allow_loopback)
        if reason:
            raise UnsafeUrl(f"{host} resolves to {reason}")
