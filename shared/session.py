"""Signed session cookies: the dashboard's login, valid on every service that shares the token secret.

A session holds no key, only the credential's stored hash (`Principal.key_id`), the random id of
its server-side row (`auth.sessions`), when it was issued and when it ends, signed with HMAC-SHA256
under a key derived from `LASTMETER_TOKEN_SECRET`. Each request resolves the key id and the session
id again, so a revoked or expired key, or a logout, ends the session within seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

SESSION_COOKIE = "lastmeter_session"
# Cookie-authenticated unsafe requests must carry this header: a cross-site form cannot set it, and a
# cross-site fetch that sets it needs a CORS preflight that only the dashboard's origin passes.
CSRF_HEADER = "X-Lastmeter-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_VERSION = "s2"  # s1 cookies carried no session id: refused, their holders log in again
_PURPOSE = b"lastmeter session cookie v1"


@dataclass(frozen=True)
class Session:
    """What a valid session cookie says: whose credential, which session row, issued and ending when (Unix s)."""

    key_id: str
    session_id: str
    issued_at: int
    expires_at: int


def _key(secret: str) -> bytes:
    # A key of its own, so no other HMAC made with the token secret can pass for a session.
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(key_id: str, *, session_id: str, secret: str, now: float, ttl_seconds: float) -> str:
    """A cookie value for this credential and session row, valid from `now` for `ttl_seconds`."""
    claims = {"k": key_id, "sid": session_id, "iat": int(now), "exp": int(now + ttl_seconds)}
    body = _b64(orjson.dumps(claims))
    mac = hmac.new(_key(secret), f"{_VERSION}.{body}".encode(), hashlib.sha256).digest()
    return f"{_VERSION}.{body}.{_b64(mac)}"


def verify_session(value: str, *, secret: str, now: float) -> Session | None:
    """The session a cookie value holds, or None when it is forged, malformed or expired."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or len(value) > 1024:
        return None
    _, body, mac = parts
    expected = hmac.new(_key(secret), f"{_VERSION}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        claims = orjson.loads(_unb64(body))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    key_id, session_id = claims.get("k"), claims.get("sid")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(key_id, str) or not key_id or not isinstance(session_id, str) or not session_id:
        return None
    if not isinstance(issued, int) or not isinstance(expires, int):
        return None
    if not issued - 60 <= now < expires:  # a minute of clock skew between services
        return None
    return Session(key_id=key_id, session_id=session_id, issued_at=issued, expires_at=expires)
