"""Rate limits for public routes: token buckets keyed by client, and who the client is. No I/O.

A bucket holds up to `burst` tokens and refills at `per_minute`; each request takes one. A key
(a client address, or a staff credential) that is out of tokens is told how long until the next
one. Buckets live in the process: behind N intake processes a client gets up to N × the limit,
which is still a limit (state shared across processes would cost a database round trip on every
public request).

The `limits` package (PyPI) was considered: its in-memory storage runs a timer thread, reads the
wall clock (no injectable clock, so tests would sleep) and has fixed or moving windows but no
burst-plus-rate bucket, which is what a resident's "a few reports at once, then slowly" needs.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# IPv6 clients get a whole /64 each (one home or phone line), else rotating addresses is free.
IPV6_CLIENT_PREFIX = 64
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rate:
    """A limit: `burst` requests at once, refilled at `per_minute`; `name` says which limit it is."""

    name: str
    burst: int
    per_minute: float

    def __post_init__(self) -> None:
        if self.burst < 1 or not (self.per_minute > 0 and math.isfinite(self.per_minute)):
            raise ValueError(f"rate {self.name}: burst must be >= 1 and per_minute > 0")

    def describe(self) -> str:
        """The limit in words, for error bodies."""
        return f"{self.burst} at once, then {self.per_minute:g} per minute"


@dataclass(frozen=True)
class Decision:
    """The outcome of one request: allowed, or refused with seconds until a token is back."""

    allowed: bool
    retry_after: float = 0.0
    remaining: int = 0

    @property
    def retry_after_seconds(self) -> int:
        """`Retry-After` is whole seconds (RFC 9110); round up so a client that waits gets in."""
        return max(1, math.ceil(self.retry_after))


class TokenBuckets:
    """One token bucket per key for one `Rate`, memory bounded by `max_keys` (least recently seen go)."""

    def __init__(self, rate: Rate, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._per_second = rate.per_minute / 60.0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> Decision:
        """Take one token for `key` if there is one."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + max(0.0, now - at) * self._per_second)
        if tokens >= 1.0:
            tokens -= 1.0
            decision = Decision(allowed=True, remaining=int(tokens))
        else:
            decision = Decision(allowed=False, retry_after=(1.0 - tokens) / self._per_second)
        self._buckets[key] = (tokens, now)
        # A forgotten key comes back with a full bucket; the least recently seen is the likeliest
        # to have refilled anyway.
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return decision


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks (trusted proxies); ValueError naming a bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {value!r}") from None
    return tuple(out)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the socket peer, unless that is a trusted proxy.

    Then `X-Forwarded-For` is read from the right (each proxy appends the address it saw), skipping
    trusted proxies; the first address no trusted proxy vouches for is the client. Anything to its
    left was written by the client itself and is ignored.
    """
    address = _address(peer) if peer else None
    if address is None:
        return peer or "unknown"
    if forwarded_for and _trusted(address, trusted):
        for hop in reversed(forwarded_for.split(",")):
            seen = _address(hop)
            if seen is None:
                break  # garbage from here leftwards cannot be trusted; keep the last proxy's view
            address = seen
            if not _trusted(seen, trusted):
                break
    return str(address)


def client_key(address: str) -> str:
    """The bucket key of a client address: IPv4 as is, IPv6 by its /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed) if parsed is not None else address
