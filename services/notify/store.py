"""Notify's SQL: the case projection and the stream table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.notify.audience import Audience


async def upsert_case(conn: asyncpg.Connection, *, case_id: str, at: datetime, now: datetime, **fields: Any) -> None:
    """Create or update the projection; `status` only moves forward in event time."""
    status = fields.pop("status", None)
    columns = {k: v for k, v in fields.items() if v is not None}
    await conn.execute(
        "INSERT INTO cases (case_id, status, status_at, updated_at) VALUES ($1, COALESCE($2, 'submitted'), $3, $4) "
        "ON CONFLICT (case_id) DO NOTHING",
        case_id,
        status,
        at,
        now,
    )
    if status is not None:
        await conn.execute(
            "UPDATE cases SET status = $2, status_at = $3 WHERE case_id = $1 AND (status_at IS NULL OR status_at <= $3)",
            case_id,
            status,
            at,
        )
    if columns:
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
        await conn.execute(
            f"UPDATE cases SET updated_at = $2, {assignments} WHERE case_id = $1", case_id, now, *columns.values()
        )


async def audience_of(conn: asyncpg.Connection, *, case_id: str) -> Audience:
    row = await conn.fetchrow(
        "SELECT street, assignee_kind, assignee_code, co_departments FROM cases WHERE case_id = $1", case_id
    )
    if row is None:
        return Audience(case_id=case_id, street=None, department=None, team=None)
    return Audience(
        case_id=case_id,
        street=row["street"],
        department=row["assignee_code"] if row["assignee_kind"] == "department" else None,
        team=row["assignee_code"] if row["assignee_kind"] == "team" else None,
        co_departments=tuple(row["co_departments"]),
    )


async def append_stream(
    conn: asyncpg.Connection,
    *,
    event_id: str,
    case_id: str,
    type_: str,
    audience: Audience,
    envelope: dict[str, Any],
    channel: str,
) -> None:
    """Record a fanned-out event for SSE and wake every notify process's stream hub on commit."""
    await conn.execute(
        "INSERT INTO stream (event_id, case_id, type, street, department, team, co_departments, envelope) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        case_id,
        type_,
        audience.street,
        audience.department,
        audience.team,
        list(audience.co_departments),
        orjson.dumps(envelope).decode(),
    )
    await conn.execute("SELECT pg_notify($1, '')", channel)


STREAM_COLUMNS = "id, case_id, type, street, department, team, co_departments, envelope"


async def stream_after(
    conn: asyncpg.Connection | asyncpg.Pool, *, after_id: int, limit: int = 1000
) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {STREAM_COLUMNS} FROM stream WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit)


async def stream_ids(conn: asyncpg.Connection | asyncpg.Pool, *, ids: list[int]) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {STREAM_COLUMNS} FROM stream WHERE id = ANY($1::bigint[]) ORDER BY id", ids)


async def max_stream_id(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM stream"))
