"""Routing's SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared.events import Assignee


async def insert_case(
    conn: asyncpg.Connection, *, case_id: str, need: dict[str, Any], submitted_at: datetime, now: datetime
) -> bool:
    """Record a new case; False when routing already knows it."""
    row = await conn.fetchrow(
        """
        INSERT INTO cases (case_id, category, community, street, priority, status, need, submitted_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, 'new', $6::jsonb, $7, $8)
        ON CONFLICT (case_id) DO NOTHING RETURNING case_id
        """,
        case_id,
        need.get("category"),
        need["community"],
        need["street"],
        need.get("priority", "normal"),
        orjson.dumps(need).decode(),
        submitted_at,
        now,
    )
    return row is not None


async def record_assignment(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    assignee: Assignee,
    co_handlers: tuple[Assignee, ...],
    reasons: tuple[str, ...],
    now: datetime,
) -> int:
    """Give the case to `assignee`; returns the attempt number."""
    attempt: int = await conn.fetchval(
        """
        UPDATE cases SET status = 'routed', assignee_kind = $2, assignee_code = $3, attempt = attempt + 1, updated_at = $4
        WHERE case_id = $1 RETURNING attempt
        """,
        case_id,
        assignee.kind,
        assignee.code,
        now,
    )
    await conn.execute(
        "INSERT INTO assignments (case_id, attempt, assignee_kind, assignee_code, co_handlers, reasons, decided_at) "
        "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)",
        case_id,
        attempt,
        assignee.kind,
        assignee.code,
        orjson.dumps([c.model_dump() for c in co_handlers]).decode(),
        orjson.dumps(list(reasons)).decode(),
        now,
    )
    return attempt
