"""What `lastmeter keys` does besides creating keys: list credentials, revoke one, parse an expiry.

A credential's id is its stored SHA-256 (hex); lists show a prefix of it, never the key itself,
and revocation takes any unique prefix (or the key / token itself, which is hashed first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.auth import RESIDENT_TOKEN_PREFIX, hash_key

ID_PREFIX_LEN = 12
MIN_PREFIX_LEN = 6
_DURATION = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class KeyAdminError(Exception):
    """An operator's request that cannot be done as asked; the message says why."""


def parse_expiry(value: str, *, now: datetime) -> datetime:
    """`90d`, `12h`, `30m` from now, or an ISO 8601 time (UTC when it names no zone); must be in the future."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        when = now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise KeyAdminError(
                f"--expires: {value!r} is neither a duration (90d, 12h, 30m) nor an ISO 8601 time"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    if when <= now:
        raise KeyAdminError(f"--expires: {value!r} is not in the future")
    return when


@dataclass(frozen=True)
class Credential:
    """One stored credential as an operator sees it (no secret in it)."""

    id: str
    kind: str  # "api_key" or "resident_token"
    name: str
    role: str
    scope: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


_LIST_SQL = """
SELECT key_hash AS id, 'api_key' AS kind, name, role, scope, created_at, expires_at, revoked_at
  FROM {s}.api_keys WHERE $1::text IS NULL
UNION ALL
SELECT token_hash, 'resident_token', 'case ' || case_id, 'resident', NULL, created_at, expires_at, revoked_at
  FROM {s}.resident_tokens WHERE $2 AND ($1::text IS NULL OR case_id = $1)
ORDER BY created_at, id
"""


async def list_credentials(
    conn: asyncpg.Connection, *, auth_schema: str, residents: bool = False, case_id: str | None = None
) -> list[Credential]:
    """API keys (with `residents`, resident tokens too; with `case_id`, only that case's resident tokens)."""
    rows = await conn.fetch(_LIST_SQL.format(s=auth_schema), case_id, residents or case_id is not None)
    return [Credential(**dict(r)) for r in rows]


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


def format_table(credentials: list[Credential]) -> str:
    """The list as aligned text: id prefix, kind, name, role, scope, created, expires, revoked."""
    header = ("id", "kind", "name", "role", "scope", "created", "expires", "revoked")
    lines = [header] + [
        (
            c.id[:ID_PREFIX_LEN],
            c.kind,
            c.name,
            c.role,
            c.scope or "-",
            _when(c.created_at),
            _when(c.expires_at),
            _when(c.revoked_at),
        )
        for c in credentials
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(col.ljust(w) for col, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def id_pattern(value: str) -> str:
    """The hex id (or id prefix) an operator named; a key or token given in full is hashed first."""
    text = value.strip()
    if text.startswith(("lm_", RESIDENT_TOKEN_PREFIX)):
        return hash_key(text)
    if not re.fullmatch(r"[0-9a-fA-F]+", text) or len(text) < MIN_PREFIX_LEN:
        raise KeyAdminError(
            f"{value!r} is not a credential id: give at least {MIN_PREFIX_LEN} hex characters of the id "
            "`lastmeter keys list` shows (or the key itself)"
        )
    return text.lower()


_MATCH_SQL = """
SELECT key_hash AS id, 'api_key' AS kind, name, revoked_at FROM {s}.api_keys WHERE starts_with(key_hash, $1)
UNION ALL
SELECT token_hash, 'resident_token', 'case ' || case_id, revoked_at FROM {s}.resident_tokens
 WHERE starts_with(token_hash, $1)
LIMIT 6
"""


async def revoke(conn: asyncpg.Connection, *, auth_schema: str, id_or_prefix: str) -> str:
    """Revoke the one API key or resident token whose id starts with this; say what was done.

    KeyAdminError when nothing or several match. Services stop accepting it within their cache TTL.
    """
    prefix = id_pattern(id_or_prefix)
    async with conn.transaction():
        found = await conn.fetch(_MATCH_SQL.format(s=auth_schema), prefix)
        if not found:
            raise KeyAdminError(f"no API key or resident token has an id starting with {prefix!r}")
        if len(found) > 1:
            names = ", ".join(f"{r['id'][:ID_PREFIX_LEN]} ({r['name']})" for r in found[:5])
            raise KeyAdminError(f"{prefix!r} matches several credentials: {names}; give more characters")
        [match] = found
        what = f"{match['kind']} {match['id'][:ID_PREFIX_LEN]} ({match['name']})"
        if match["revoked_at"] is not None:
            return f"{what} was already revoked at {_when(match['revoked_at'])}"
        table, column = ("api_keys", "key_hash") if match["kind"] == "api_key" else ("resident_tokens", "token_hash")
        await conn.execute(f"UPDATE {auth_schema}.{table} SET revoked_at = now() WHERE {column} = $1", match["id"])
    return f"revoked {what}"
