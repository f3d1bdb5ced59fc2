"""asyncpg pool per service schema, and a migration runner for each service's own SQL files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    """Schema names are interpolated into SQL, so only plain identifiers pass."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def create_pool(dsn: str, *, schema: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see this service's schema first."""
    check_schema_name(schema)
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f"{schema},public", "application_name": schema},
        command_timeout=30,
        reset=_keep_session,
    )


async def _keep_session(_: asyncpg.Connection) -> None:
    """Skip the default RESET ALL / UNLISTEN round trip on every release.

    Our pooled sessions never change settings, hold session-level locks or LISTEN (those use
    their own connections); asyncpg still rolls back any transaction left open before this.
    """


async def migrate(dsn: str, *, schema: str, directories: Sequence[Path]) -> list[str]:
    """Apply not-yet-applied *.sql files from the shared and given directories; return what ran.

    Runs under an advisory lock so several processes starting at once migrate one at a time.
    """
    check_schema_name(schema)
    applied_now: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
                "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
            for directory in (SHARED_MIGRATIONS, *directories):
                for path in sorted(directory.glob("*.sql")):
                    name = f"{directory.name}/{path.name}" if directory == SHARED_MIGRATIONS else path.name
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL search_path TO {schema}, public")
                        await conn.execute(path.read_text(encoding="utf-8"))
                        await conn.execute(f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", name)
                    applied_now.append(name)
                    log.info("migration applied", schema=schema, migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
    finally:
        await conn.close()
    return applied_now
