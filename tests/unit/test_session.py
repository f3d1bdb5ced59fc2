"""Session cookies are signed, expire and hold no key; the dashboard's files keep no key or URL anywhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from services.notify.pages.api import ASSETS, content_security_policy
from shared.auth import hash_key
from shared.session import sign_session, verify_session

SECRET = "s" * 40
NOW = 1_780_000_000.0


def test_a_session_round_trips_and_holds_only_the_key_hash() -> None:
    key_id = hash_key("lm_admin_secret-key")
    value = sign_session(key_id, session_id="sid-1", secret=SECRET, now=NOW, ttl_seconds=3600)
    session = verify_session(value, secret=SECRET, now=NOW + 10)
    assert session is not None
    assert session.key_id == key_id
    assert session.session_id == "sid-1"
    assert session.issued_at == int(NOW)
    assert session.expires_at == int(NOW + 3600)
    assert "lm_admin" not in value


def test_a_session_expires_and_cannot_be_forged_or_altered() -> None:
    value = sign_session("abc", session_id="sid-1", secret=SECRET, now=NOW, ttl_seconds=60)
    assert verify_session(value, secret=SECRET, now=NOW + 60) is None  # expired
    assert verify_session(value, secret=SECRET, now=NOW - 3600) is None  # issued in the future
    assert verify_session(value, secret="another secret of enough length!!", now=NOW) is None
    version, body, mac = value.split(".")
    longer = sign_session("abc", session_id="sid-1", secret=SECRET, now=NOW, ttl_seconds=10**6).split(".")[1]
    assert verify_session(f"{version}.{longer}.{mac}", secret=SECRET, now=NOW) is None  # body swapped
    for junk in ("", "s2", "s2..", "s2.x.y", f"s1.{body}.{mac}", f"{value}.extra", "s2.%%%.%%%"):
        assert verify_session(junk, secret=SECRET, now=NOW) is None


def test_no_other_signature_made_with_the_token_secret_passes_for_a_session() -> None:
    # Sessions sign under a key derived for them alone, not the raw secret other HMACs may use.
    body = sign_session("abc", session_id="sid-1", secret=SECRET, now=NOW, ttl_seconds=60).split(".")[1]
    raw = hmac.new(SECRET.encode(), f"s2.{body}".encode(), hashlib.sha256).digest()
    mac = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert verify_session(f"s2.{body}.{mac}", secret=SECRET, now=NOW) is None


def test_a_cookie_without_a_session_id_is_refused() -> None:
    # An s1-style body (no `sid`) signed properly under the session key still names no session row.
    key = hmac.new(SECRET.encode(), b"lastmeter session cookie v1", hashlib.sha256).digest()
    claims = base64.urlsafe_b64encode(b'{"k":"abc","iat":1780000000,"exp":1780000060}').decode().rstrip("=")
    mac = base64.urlsafe_b64encode(hmac.new(key, f"s2.{claims}".encode(), hashlib.sha256).digest()).decode()
    assert verify_session(f"s2.{claims}.{mac.rstrip('=')}", secret=SECRET, now=NOW) is None


def test_the_dashboard_keeps_no_key_or_url_in_storage_or_in_its_files() -> None:
    js = (ASSETS / "app.js").read_text(encoding="utf-8")
    html = (ASSETS / "index.html").read_text(encoding="utf-8")
    assert "sessionStorage" not in js
    # localStorage holds the language and nothing else.
    assert re.findall(r"localStorage\.(\w+)\(([^,)]*)", js) == [("getItem", "LANG_STORE"), ("setItem", "LANG_STORE")]
    for text in (js, html):
        assert "access_token" not in text
        assert "Authorization" not in text  # no key is sent from the page: the cookie is
        assert not re.search(r"lm_(admin|street_office|department|team|grid_worker)_[A-Za-z0-9_-]{8,}", text)
    assert 'get("sla")' not in js  # no service URL from the page's own URL
    assert "<script>" not in html  # no inline script (the CSP would refuse it)
    assert not re.search(r"\son\w+=", html)  # nor inline handlers
    assert "style=" not in html + js  # nor inline styles


def test_the_policy_refuses_inline_code_framing_and_other_origins() -> None:
    policy = content_security_policy("https://sla.example.org")
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "connect-src 'self' https://sla.example.org" in policy
    assert "frame-ancestors 'none'" in policy
