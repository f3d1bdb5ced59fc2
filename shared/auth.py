"""Who is calling: API keys and residents' access tokens, both stored only as SHA-256 hashes.

Both live in the `auth` schema, which belongs to this shared module rather than to any one
service: every service checks credentials; `lastmeter keys` / `lastmeter init` write API keys and
intake writes a resident token with each accepted submission (in the submission's transaction).
A resident token is random (`rt_…`), one per submission, a linked duplicate included: it opens
that reporter's own view of one case, can be revoked, and expires a set time after the case closes.
A login session (the pages' signed cookie) has a row of its own in `auth.sessions`, by the hash of
its random id, so logging out ends it on every service within the cache's seconds.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from shared.clock import Clock, SystemClock

Role = Literal["resident", "grid_worker", "department", "team", "street_office", "admin"]
ROLES: tuple[Role, ...] = ("resident", "grid_worker", "department", "team", "street_office", "admin")
RESIDENT_TOKEN_PREFIX = "rt_"
# A revoked credential stops being accepted by new requests within this many seconds.
DEFAULT_CACHE_TTL = 2.0
# Ended or expired session rows are deleted this long after their expiry (by the next login).
SESSION_ROW_KEEP = timedelta(days=1)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `scope` is a department, team or street code; `case_id` for residents' tokens."""

    role: Role
    scope: str | None = None
    name: str = ""
    case_id: str | None = None
    # Which credential this is (an API key's or a resident token's stored hash). Subscriptions and
    # SSE streams belong to it, so revoking the credential stops them.
    key_id: str | None = None
    # A resident token's own submission (the report it came with): its view shows only that report.
    submission_id: str | None = None

    def can_see(
        self,
        *,
        case_id: str,
        street: str | None = None,
        department: str | None = None,
        team: str | None = None,
        departments: tuple[str, ...] = (),
    ) -> bool:
        """Whether this caller may read a case with these owners."""
        if self.role == "admin":
            return True
        if self.case_id is not None:
            return self.case_id == case_id
        if self.role == "street_office":
            return self.scope is None or self.scope == street
        if self.role == "department":
            return self.scope is not None and (self.scope == department or self.scope in departments)
        if self.role == "team":
            return self.scope is not None and self.scope == team
        if self.role == "grid_worker":
            return self.scope is None or self.scope == street
        return False


def generate_key(role: Role) -> str:
    """A new random API key; show it once, store only its hash."""
    return f"lm_{role}_{secrets.token_urlsafe(24)}"


def generate_resident_token() -> str:
    """A new random resident access token (256 bits); show it once, store only its hash."""
    return f"{RESIDENT_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """The stored form of a credential (keys are long random tokens, so a fast hash is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


async def insert_key(
    conn: asyncpg.Connection,
    *,
    auth_schema: str,
    key: str,
    name: str,
    role: Role,
    scope: str | None,
    expires_at: datetime | None = None,
) -> None:
    """Store a key's hash (idempotent on the hash)."""
    await conn.execute(
        f"INSERT INTO {auth_schema}.api_keys (key_hash, name, role, scope, expires_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (key_hash) DO NOTHING",
        hash_key(key),
        name,
        role,
        scope,
        expires_at,
    )


async def insert_resident_tokens(
    conn: asyncpg.Connection, *, auth_schema: str, rows: Sequence[tuple[str, str, str, datetime]]
) -> None:
    """Store resident tokens' hashes: (token_hash, case_id, submission_id, created_at) each."""
    if rows:
        await conn.executemany(
            f"INSERT INTO {auth_schema}.resident_tokens (token_hash, case_id, submission_id, created_at) "
            "VALUES ($1, $2, $3, $4)",
            rows,
        )


async def issue_resident_token(
    conn: asyncpg.Connection, *, auth_schema: str, case_id: str, submission_id: str, now: datetime
) -> str:
    """Create and store one resident token for a submission; return the token (shown once)."""
    token = generate_resident_token()
    await insert_resident_tokens(conn, auth_schema=auth_schema, rows=[(hash_key(token), case_id, submission_id, now)])
    return token


async def rotate_resident_token(
    conn: asyncpg.Connection, *, auth_schema: str, submission_id: str, now: datetime
) -> str | None:
    """Replace a submission's token with a new one (the old stops opening anything); None if revoked or absent.

    Used when a response must be repeated (an Idempotency-Key replay): tokens are never stored in clear.
    """
    token = generate_resident_token()
    replaced = await conn.fetchval(
        f"UPDATE {auth_schema}.resident_tokens SET token_hash = $2, created_at = $3 "
        "WHERE submission_id = $1 AND revoked_at IS NULL RETURNING 1",
        submission_id,
        hash_key(token),
        now,
    )
    return token if replaced else None


async def set_case_token_expiry(
    conn: asyncpg.Connection, *, auth_schema: str, case_ids: Sequence[str], expires_at: datetime | None
) -> None:
    """Make every resident token of these cases expire at `expires_at` (None: never, the case reopened)."""
    if case_ids:
        await conn.execute(
            f"UPDATE {auth_schema}.resident_tokens SET expires_at = $2 WHERE case_id = ANY($1::text[])",
            list(case_ids),
            expires_at,
        )


_PRINCIPAL_SQL = """
SELECT name, role, scope, NULL::text AS case_id, NULL::text AS submission_id, expires_at
  FROM {s}.api_keys
 WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
UNION ALL
SELECT 'resident', 'resident', NULL, case_id, submission_id, expires_at
  FROM {s}.resident_tokens
 WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
LIMIT 1
"""

_ACTIVE_SQL = """
SELECT key_hash AS id FROM {s}.api_keys
 WHERE key_hash = ANY($1::text[]) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
UNION ALL
SELECT token_hash FROM {s}.resident_tokens
 WHERE token_hash = ANY($1::text[]) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
UNION ALL
SELECT session_hash FROM {s}.sessions
 WHERE session_hash = ANY($1::text[]) AND ended_at IS NULL AND expires_at > $2
"""

_SESSION_LIVE_SQL = """
SELECT 1 FROM {s}.sessions WHERE session_hash = $1 AND ended_at IS NULL AND expires_at > $2
"""


class KeyStore:
    """Resolves bearer credentials by hash, with a cache short enough that revocation bites within seconds."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        auth_schema: str,
        ttl: float = DEFAULT_CACHE_TTL,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._schema = auth_schema
        self._ttl = min(ttl, 5.0)
        self._clock: Clock = clock or SystemClock()
        self._principal_sql = _PRINCIPAL_SQL.format(s=auth_schema)
        self._active_sql = _ACTIVE_SQL.format(s=auth_schema)
        self._session_live_sql = _SESSION_LIVE_SQL.format(s=auth_schema)
        self._cache: dict[str, tuple[float, Principal | None, datetime | None]] = {}
        self._sessions: dict[str, tuple[float, bool]] = {}

    async def authenticate(self, credential: str) -> Principal | None:
        """The principal for a bearer credential (API key or resident token), or None."""
        return await self.principal_for_key_id(hash_key(credential)) if credential else None

    async def principal_for_key_id(self, key_id: str) -> Principal | None:
        """The principal of a stored credential hash (e.g. from a signed session cookie), if still valid.

        Cached for at most the TTL (<= 5 s) and never past the credential's own expiry, so a revoked
        or expired credential stops being accepted within seconds.
        """
        if not key_id:
            return None
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and hit[0] > now and (hit[2] is None or hit[2] > self._clock.now()):
            return hit[1]
        principal, expires_at = await self._lookup(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now + self._ttl, principal, expires_at)
        return principal

    async def _lookup(self, digest: str) -> tuple[Principal | None, datetime | None]:
        row = await self._pool.fetchrow(self._principal_sql, digest, self._clock.now())
        if row is None:
            return None, None
        principal = Principal(
            role=row["role"],
            scope=row["scope"],
            name=row["name"],
            case_id=row["case_id"],
            key_id=digest,
            submission_id=row["submission_id"],
        )
        return principal, row["expires_at"]

    async def open_session(self, key_id: str, *, expires_at: datetime) -> str:
        """A new login session for this credential: its random id (only its hash is stored).

        Rows a day past their expiry go at the same time, so the table holds about a day of logins.
        """
        session_id = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {self._schema}.sessions WHERE expires_at < $1", now - SESSION_ROW_KEEP)
            await conn.execute(
                f"INSERT INTO {self._schema}.sessions (session_hash, key_id, created_at, expires_at)"
                " VALUES ($1, $2, $3, $4)",
                hash_key(session_id),
                key_id,
                now,
                expires_at,
            )
        return session_id

    async def end_session(self, session_id: str) -> None:
        """Log out: the session is refused from now on (other processes within the cache's TTL)."""
        digest = hash_key(session_id)
        await self._pool.execute(
            f"UPDATE {self._schema}.sessions SET ended_at = $2 WHERE session_hash = $1 AND ended_at IS NULL",
            digest,
            self._clock.now(),
        )
        self._sessions.pop(digest, None)

    async def session_is_live(self, session_id: str) -> bool:
        """Whether this login session is neither ended nor expired; cached like credentials (<= 5 s)."""
        if not session_id:
            return False
        digest = hash_key(session_id)
        now = time.monotonic()
        hit = self._sessions.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        live = await self._pool.fetchval(self._session_live_sql, digest, self._clock.now()) is not None
        if len(self._sessions) > 10_000:
            self._sessions.clear()
        self._sessions[digest] = (now + self._ttl, live)
        return live

    async def active_key_ids(self, key_ids: Collection[str]) -> set[str]:
        """Which of these credentials (by `Principal.key_id`) are still valid now: not revoked, not expired.

        Uncached, so long-lived holders (SSE streams, subscriptions) can re-check every few seconds and
        stop soon after a revocation. Covers API keys, resident tokens and login sessions (by
        `session_hash`, the hash of the session id).
        """
        wanted = [k for k in set(key_ids) if k]
        if not wanted:
            return set()
        rows = await self._pool.fetch(self._active_sql, wanted, self._clock.now())
        return {r["id"] for r in rows}
