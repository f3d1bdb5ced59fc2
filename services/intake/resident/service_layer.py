"""Opening a residents' page session: which credentials may, the signed cookie value, the reopen QR code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import segno

from shared.auth import KeyStore, Principal
from shared.errors import Forbidden
from shared.session import sign_session

SESSION_SECONDS = 8 * 3600
# Who may use the page with a key: on behalf of a resident (hotline, grid workers) or to look.
STAFF_ROLES = frozenset({"grid_worker", "street_office", "admin"})


@dataclass(frozen=True)
class OpenedSession:
    """Whose session it is and the signed value of its cookie."""

    principal: Principal
    cookie: str


async def open_session(keys: KeyStore, *, credential: str, secret: str, now: float) -> OpenedSession | None:
    """The session a resident token or staff key opens; None if the credential is unknown, expired or revoked."""
    principal = await keys.authenticate(credential)
    if principal is None or principal.key_id is None:
        return None
    if principal.role != "resident" and principal.role not in STAFF_ROLES:
        raise Forbidden(
            "this page is for residents, hotline operators and grid workers",
            fields=[{"field": "credential", "message": f"a {principal.role} key"}],
        )
    expires_at = datetime.fromtimestamp(int(now + SESSION_SECONDS), UTC)
    session_id = await keys.open_session(principal.key_id, expires_at=expires_at)
    cookie = sign_session(principal.key_id, session_id=session_id, secret=secret, now=now, ttl_seconds=SESSION_SECONDS)
    return OpenedSession(principal, cookie)


def reopen_link(base_url: str, token: str) -> str:
    """The resident's own link: the token in the fragment, which browsers never send to a server."""
    return f"{base_url.rstrip('/')}/r#t={token}"


def qr_data_uri(link: str) -> str:
    """The link as a QR code, an SVG data URI the page shows inline."""
    return segno.make(link, error="m").svg_data_uri(scale=6, border=2, dark="#000", light="#fff")
