"""Who is calling: API keys (hash stored, role + scope) and residents' per-case access tokens.

API keys live in the `auth` schema, which belongs to this shared module rather than to any one
service: every service checks keys, and only `lastmeter keys` / `lastmeter init` write them.
A resident's access token is an HMAC of the case id, so any service can verify it without a
lookup and it opens exactly one case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

import asyncpg

Role = Literal["resident", "grid_worker", "department", "team", "street_office", "admin"]
ROLES: tuple[Role, ...] = ("resident", "grid_worker", "department", "team", "street_office", "admin")
_TOKEN_PREFIX = "rt_"


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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_access_token(case_id: str, secret: str) -> str:
    """The token a resident gets with their case; it reads only that case."""
    body = base64.urlsafe_b64encode(case_id.encode()).decode().rstrip("=")
    return f"{_TOKEN_PREFIX}{body}.{_sign(body, secret)}"


def verify_access_token(token: str, secret: str) -> str | None:
    """The case id a token opens, or None when it is not ours."""
    if not token.startswith(_TOKEN_PREFIX) or "." not in token:
        return None
    body, signature = token[len(_TOKEN_PREFIX) :].rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(body, secret)):
        return None
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def _sign(body: str, secret: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]


async def insert_key(
    conn: asyncpg.Connection, *, auth_schema: str, key: str, name: str, role: Role, scope: str | None
) -> None:
    """Store a key's hash (idempotent on the hash)."""
    await conn.execute(
        f"INSERT INTO {auth_schema}.api_keys (key_hash, name, role, scope) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (key_hash) DO NOTHING",
        hash_key(key),
        name,
        role,
        scope,
    )


class KeyStore:
    """Looks API keys up by hash, with a short cache so a hot path does not query every time."""

    def __init__(self, *, pool: asyncpg.Pool, auth_schema: str, secret: str, ttl: float = 30.0) -> None:
        self._pool = pool
        self._schema = auth_schema
        self._secret = secret
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, credential: str) -> Principal | None:
        """The principal for a bearer credential (API key or resident token), or None."""
        case_id = verify_access_token(credential, self._secret)
        if case_id is not None:
            return Principal(role="resident", case_id=case_id, name="resident", key_id=hash_key(credential))
        digest = hash_key(credential)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self._pool.fetchrow(
            f"SELECT name, role, scope FROM {self._schema}.api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            digest,
        )
        principal = Principal(role=row["role"], scope=row["scope"], name=row["name"], key_id=digest) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, principal)
        return principal

    async def principal_for_key_id(self, key_id: str) -> Principal | None:
        """The principal of a stored credential hash (e.g. from a signed session cookie), if still valid; uncached."""
        if not key_id:
            return None
        row = await self._pool.fetchrow(
            f"SELECT name, role, scope FROM {self._schema}.api_keys WHERE key_hash = $1 AND revoked_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > now())",
            key_id,
        )
        return Principal(role=row["role"], scope=row["scope"], name=row["name"], key_id=key_id) if row else None

    async def active_key_ids(self, key_ids: Collection[str]) -> set[str]:
        """Which of these credentials (by `Principal.key_id`) are still valid now: not revoked, not expired.

        Uncached, so long-lived holders (SSE streams, subscriptions) can re-check every few seconds and
        stop soon after a revocation.
        """
        wanted = [k for k in set(key_ids) if k]
        if not wanted:
            return set()
        rows = await self._pool.fetch(
            f"SELECT key_hash FROM {self._schema}.api_keys WHERE key_hash = ANY($1::text[]) AND revoked_at IS NULL",
            wanted,
        )
        return {r["key_hash"] for r in rows}
