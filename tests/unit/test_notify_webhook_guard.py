"""Webhook address rules, DNS pinning, redirects, owner checks and confirmation codes (pure, no network)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.notify.channels.webhook import WebhookSender
from services.notify.confirmation import Pending, check_code, generate_code, hash_code
from services.notify.owners import OwnerCheck
from services.notify.settings import NotifySettings
from services.notify.urlguard import UnsafeUrl, parse_url, pin

PUBLIC = "93.184.216.34"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _resolver(*answers: list[str]) -> tuple[Callable[[str, int], object], list[str]]:
    """A resolver answering each call with the next list (the last one repeats); records the hosts asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked) - 1, len(answers) - 1)]

    return resolve, asked


REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://localhost:8080/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://10.1.2.3:8080/hook", "private"),
    ("http://172.16.0.9/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "private"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::127.0.0.1]/", "loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://0x7f000001/", "obfuscated"),
    ("http://2130706433/", "obfuscated"),
    ("http://0177.0.0.1/", "obfuscated"),
    ("http://127.1/", "obfuscated"),
    ("http://0x7f.0.0.1/", "obfuscated"),
    ("http://１２７.０.０.１/", "loopback"),  # full-width digits map to 127.0.0.1
    ("http://metadata.google.internal/", "metadata host"),
    ("http://user:pw@example.org/", "credentials"),
    ("ftp://example.org/", "only http and https"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_addresses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        parse_url(url, allow_loopback=False)


def test_the_dev_setting_allows_plain_loopback_only() -> None:
    assert parse_url("http://127.0.0.1:9000/hook", allow_loopback=True).host == "127.0.0.1"
    assert parse_url("http://[::1]:9000/hook", allow_loopback=True).host == "::1"
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[::ffff:127.0.0.1]/", "http://0x7f000001/"):
        with pytest.raises(UnsafeUrl):
            parse_url(url, allow_loopback=True)


def test_public_addresses_and_names_pass() -> None:
    target = parse_url("https://dept.example.org:8443/hooks?x=1", allow_loopback=False)
    assert (target.host, target.port, target.path, target.host_header) == (
        "dept.example.org",
        8443,
        "/hooks?x=1",
        "dept.example.org:8443",
    )
    assert parse_url(f"http://{PUBLIC}/", allow_loopback=False).literal is not None
    assert parse_url("http://cafe.de/", allow_loopback=False).literal is None  # hex-looking letters, a real name


async def test_a_name_is_refused_when_any_address_it_resolves_to_is() -> None:
    target = parse_url("https://hooks.example.org/", allow_loopback=False)
    resolve, _ = _resolver(["127.0.0.1"])
    with pytest.raises(UnsafeUrl, match="loopback"):
        await pin(target, resolver=resolve, allow_loopback=False)  # type: ignore[arg-type]
    resolve, _ = _resolver([PUBLIC, "10.0.0.7"])
    with pytest.raises(UnsafeUrl, match="private") as refused:
        await pin(target, resolver=resolve, allow_loopback=False)  # type: ignore[arg-type]
    assert "10.0.0.7" not in str(refused.value)  # what internal names resolve to is not told
    resolve, _ = _resolver([PUBLIC])
    assert str(await pin(target, resolver=resolve, allow_loopback=False)) == PUBLIC  # type: ignore[arg-type]


def _sender(resolver: object, transport: httpx.AsyncBaseTransport, *, allow_loopback: bool = False) -> WebhookSender:
    return WebhookSender(
        allow_loopback=allow_loopback,
        timeout=5,
        dns_timeout=1,
        max_response_bytes=1024,
        per_destination=2,
        resolver=resolver,  # type: ignore[arg-type]
        transport=transport,
    )


async def _send(sender: WebhookSender, url: str) -> object:
    return await sender.send(
        url=url, secret="s" * 16, body=b"{}", delivery_id="dlv_1", subscription_id="sub_1", event_type="t"
    )


async def test_dns_rebinding_cannot_reach_loopback_the_connection_goes_to_the_checked_address() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"ok"))

    # Public when checked, loopback a moment later: the classic rebinding answer.
    resolve, asked = _resolver([PUBLIC], ["127.0.0.1"])
    sender = _sender(resolve, httpx.MockTransport(answer))
    first = await _send(sender, "https://hooks.example.org/in?x=1")
    assert first.ok  # type: ignore[attr-defined]
    assert asked == ["hooks.example.org"]  # resolved once for the attempt, not again to connect
    request = seen[0]
    assert request.url.host == PUBLIC  # the connection is pinned to the address that was checked
    assert request.url.raw_path == b"/in?x=1"
    assert request.headers["host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"  # TLS SNI and cert check for the name
    second = await _send(sender, "https://hooks.example.org/in?x=1")
    assert second.outcome == "refused"  # type: ignore[attr-defined]
    assert second.retry is False  # type: ignore[attr-defined]
    assert len(seen) == 1  # nothing was sent to loopback
    await sender.aclose()


async def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        location = {"Location": "http://169.254.169.254/latest/meta-data/"}
        return httpx.Response(302, headers=location, stream=httpx.ByteStream(b""))

    resolve, _ = _resolver([PUBLIC])
    sender = _sender(resolve, httpx.MockTransport(answer))
    outcome = await _send(sender, "http://hooks.example.org/")
    assert (outcome.ok, outcome.outcome, outcome.status_code) == (False, "http_error", 302)  # type: ignore[attr-defined]
    assert "redirect" in outcome.error  # type: ignore[attr-defined]
    assert len(seen) == 1
    await sender.aclose()


async def test_an_unresolvable_host_is_retried_later() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    sender = _sender(nxdomain, httpx.MockTransport(lambda r: httpx.Response(200)))
    outcome = await _send(sender, "http://gone.example.org/")
    assert (outcome.outcome, outcome.retry) == ("connect_error", True)  # type: ignore[attr-defined]
    await sender.aclose()


async def test_owner_checks_are_cached_for_at_most_the_ttl() -> None:
    valid = {"k1", "k2"}
    calls: list[set[str]] = []
    now = [0.0]

    async def active(ids: object) -> set[str]:
        calls.append(set(ids))  # type: ignore[call-overload]
        return valid & set(ids)  # type: ignore[call-overload]

    check = OwnerCheck(active_key_ids=active, ttl=2.0, now=lambda: now[0])
    assert await check.valid(["k1", "k2", "k3"]) == {"k1", "k2"}
    valid.discard("k1")  # revoked
    now[0] = 1.0
    assert await check.is_valid("k1")  # within the ttl the old answer stands
    now[0] = 2.5
    assert not await check.is_valid("k1")  # after it, the revocation shows
    assert len(calls) == 2
    assert not await check.is_valid(None)


def test_confirmation_codes() -> None:
    code = generate_code()
    assert len(code) == 6
    assert code.isdigit()
    stored = hash_code("secret", "sub_1", code)
    assert code not in stored
    pending = Pending(confirmed=False, code_hash=stored, expires_at=T0 + timedelta(minutes=15), attempts=0)
    kw = {"secret": "secret", "subscription_id": "sub_1", "max_attempts": 5}
    assert check_code(pending, code=code, now=T0, **kw) == "confirmed"  # type: ignore[arg-type]
    assert check_code(pending, code="000000" if code != "000000" else "111111", now=T0, **kw) == "wrong"  # type: ignore[arg-type]
    assert check_code(pending, code=code, now=T0 + timedelta(minutes=16), **kw) == "expired"  # type: ignore[arg-type]
    spent = Pending(confirmed=False, code_hash=stored, expires_at=T0 + timedelta(minutes=15), attempts=5)
    assert check_code(spent, code=code, now=T0, **kw) == "exhausted"  # type: ignore[arg-type]
    other = hash_code("secret", "sub_2", code)
    assert other != stored  # a code opens only its own subscription


def test_loopback_is_an_explicit_setting_and_never_in_prod() -> None:
    assert NotifySettings().loopback_allowed is False
    assert NotifySettings(webhook_allow_loopback=True).loopback_allowed is True
    with pytest.raises(ValueError, match="WEBHOOK_ALLOW_LOOPBACK"):
        NotifySettings(env="prod", webhook_allow_loopback=True, token_secret="x" * 48)
