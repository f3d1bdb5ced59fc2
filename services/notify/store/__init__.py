"""All of notify's SQL: the case projection and stream (`cases`), subscriptions and deliveries
(`deliveries`), confirmation codes (`confirm`), the dashboard's read queries (`views`) and the
fan-out consumer's interface to them (`fanout`)."""

from __future__ import annotations

from typing import Any

import asyncpg


async def fetch_all(conn: asyncpg.Connection | asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    """`conn.fetch`, typed (asyncpg ships no types)."""
    rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return rows
