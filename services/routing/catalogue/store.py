"""The catalogue's SQL: its stored versions and who changed what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared.catalogue import Catalogue
from shared.catalogue_sync import latest_stored, store_version


async def lock_changes(conn: asyncpg.Connection, *, key: str) -> None:
    """One change at a time across every routing process, until this transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)


async def latest(conn: asyncpg.Connection) -> Catalogue | None:
    """The newest stored version, if any."""
    return await latest_stored(conn)


async def add_version(conn: asyncpg.Connection, catalogue: Catalogue) -> None:
    """Store a version (a version already stored is left as it is)."""
    await store_version(conn, catalogue)


async def add_change(
    conn: asyncpg.Connection, *, new: Catalogue, changed_by: str, changed_at: datetime, summary: dict[str, Any]
) -> None:
    """Record who made a version and what it changed."""
    await conn.execute(
        "INSERT INTO catalogue_changes (version, fingerprint, changed_by, changed_at, summary) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        new.version,
        new.fingerprint,
        changed_by,
        changed_at,
        orjson.dumps(summary).decode(),
    )


async def versions(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every stored version, newest first, with who changed it and what changed."""
    rows = await conn.fetch(
        "SELECT v.version, v.fingerprint, c.changed_by, c.changed_at, COALESCE(c.summary, '{}'::jsonb) AS summary "
        "FROM catalogue_versions v LEFT JOIN catalogue_changes c USING (version) ORDER BY v.version DESC"
    )
    return [
        {**dict(r), "summary": orjson.loads(r["summary"]) if isinstance(r["summary"], str) else r["summary"]}
        for r in rows
    ]
