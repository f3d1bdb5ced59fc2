"""Intake's SQL. Keyword-only functions taking a connection; no business rules here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson


async def insert_case(conn: asyncpg.Connection, *, case: dict[str, Any], contact: dict[str, Any]) -> None:
    """Store a new case and the first line of its timeline."""
    await conn.execute(
        """
        INSERT INTO cases (case_id, category, description, community, street, grid, lat, lon, address,
                           reporter_kind, priority, vulnerable, pairing_id, language, contact, status,
                           status_at, submitted_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, 'submitted', $16, $16, $16)
        """,
        case["case_id"],
        case["category"],
        case["description"],
        case["community"],
        case["street"],
        case.get("grid"),
        case.get("lat"),
        case.get("lon"),
        case.get("address"),
        case["reporter_kind"],
        case["priority"],
        case["vulnerable"],
        case.get("pairing_id"),
        case["language"],
        orjson.dumps(contact).decode(),
        case["submitted_at"],
    )
    await add_timeline(conn, case_id=case["case_id"], at=case["submitted_at"], status="submitted")


async def add_timeline(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    at: datetime,
    status: str,
    note: str | None = None,
    event_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO case_timeline (case_id, at, status, note, event_id) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (event_id) DO NOTHING",
        case_id,
        at,
        status,
        note,
        event_id,
    )


async def set_status(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    status: str,
    at: datetime,
    now: datetime,
    assignee_kind: str | None = None,
    assignee_code: str | None = None,
) -> bool | None:
    """Move a case to `status` unless a newer event already did; None if the case is unknown."""
    row = await conn.fetchrow(
        """
        UPDATE cases SET status = $2, status_at = $3, updated_at = $4,
               assignee_kind = COALESCE($5, assignee_kind), assignee_code = COALESCE($6, assignee_code)
        WHERE case_id = $1 AND status_at <= $3
        RETURNING case_id
        """,
        case_id,
        status,
        at,
        now,
        assignee_kind,
        assignee_code,
    )
    if row is not None:
        return True
    exists = await conn.fetchval("SELECT 1 FROM cases WHERE case_id = $1", case_id)
    return False if exists else None


async def get_case(conn: asyncpg.Connection | asyncpg.Pool, *, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)


async def get_timeline(conn: asyncpg.Connection | asyncpg.Pool, *, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT at, status, note FROM case_timeline WHERE case_id = $1 ORDER BY at, id", case_id)
