"""Token buckets and the client address behind proxies (shared/ratelimit.py), on a fake clock."""

from __future__ import annotations

import pytest

from shared.ratelimit import Rate, TokenBuckets, client_address, client_key, parse_networks


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Rate("needs", burst=10, per_minute=30), clock=clock)
    assert all(buckets.take("a").allowed for _ in range(10))
    refused = buckets.take("a")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(2.0)  # 30 per minute: one token every 2 s
    assert refused.retry_after_seconds == 2
    clock.now += 1.0
    assert not buckets.take("a").allowed
    clock.now += 1.0
    assert buckets.take("a").allowed
    assert not buckets.take("a").allowed
    # Another key has its own bucket.
    assert buckets.take("b").allowed


def test_refill_never_exceeds_the_burst() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Rate("needs", burst=3, per_minute=60), clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a").allowed for _ in range(4)] == [True, True, True, False]


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Rate("slow", burst=1, per_minute=7), clock=clock)
    buckets.take("a")
    refused = buckets.take("a")
    assert refused.retry_after == pytest.approx(60 / 7)
    assert refused.retry_after_seconds == 9


def test_memory_is_bounded_and_the_least_recent_key_goes() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(Rate("needs", burst=1, per_minute=1), clock=clock, max_keys=2)
    buckets.take("a")
    buckets.take("b")
    buckets.take("a")  # a is now the most recent
    buckets.take("c")
    assert len(buckets) == 2
    assert buckets.take("b").allowed  # b was forgotten: a fresh bucket
    assert not buckets.take("c").allowed


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        Rate("x", burst=0, per_minute=1)
    with pytest.raises(ValueError, match="per_minute"):
        Rate("x", burst=1, per_minute=0)


PROXY = parse_networks(["10.0.0.0/8", "fd00::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # An untrusted peer is the client, whatever it claims.
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),
        ("127.0.0.1", "198.51.100.1", "127.0.0.1"),
        # A trusted proxy: the address it saw (the rightmost entry).
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        # The client prepended a fake entry; the proxy appended the real one.
        ("10.0.0.2", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Two trusted proxies in a row are skipped.
        ("10.0.0.2", "198.51.100.1, 10.0.0.9", "198.51.100.1"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        # Garbage in the header: keep the nearest address a trusted proxy vouched for.
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("::ffff:203.0.113.7", None, "203.0.113.7"),
        (None, "198.51.100.1", "unknown"),
    ],
)
def test_client_address_believes_forwarded_for_only_from_trusted_proxies(
    peer: str | None, forwarded: str | None, expected: str
) -> None:
    assert client_address(peer, forwarded, PROXY) == expected


def test_no_trusted_proxies_by_default_means_the_peer() -> None:
    assert client_address("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("203.0.113.7") == "203.0.113.7"


def test_parse_networks_names_a_bad_entry() -> None:
    with pytest.raises(ValueError, match="not-a-net"):
        parse_networks(["10.0.0.1", "not-a-net"])
