"""SLA's SQL."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.events import Assignee


async def arm_deadline(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    street: str | None,
    kind: str,
    attempt: int,
    assignee: Assignee | None,
    sla_class: str | None,
    started_at: datetime,
    due_at: datetime,
) -> bool:
    """Arm a deadline once; False if this (case, kind, attempt) is armed already."""
    row = await conn.fetchrow(
        """
        INSERT INTO deadlines (case_id, street, kind, attempt, assignee_kind, assignee_code, sla_class, started_at, due_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (case_id, kind, attempt) DO NOTHING RETURNING id
        """,
        case_id,
        street,
        kind,
        attempt,
        assignee.kind if assignee else None,
        assignee.code if assignee else None,
        sla_class,
        started_at,
        due_at,
    )
    return row is not None


async def deadlines_for(conn: asyncpg.Connection | asyncpg.Pool, *, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM deadlines WHERE case_id = $1 ORDER BY id", case_id)
