"""SLA's SQL, cases: the facts sla keeps per case."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.sla.store.types import Conn
from shared.events import Assignee

_CASE_FIELDS = frozenset(
    {"priority", "sla_class", "round", "round_started_at", "attempt", "assignee_kind", "assignee_code"}
    | {"awaiting_since", "paused_at", "closed_at", "street", "community", "category"}
)


async def lock_case(conn: asyncpg.Connection, *, case_id: str) -> asyncpg.Record | None:
    """The case row, locked for this transaction (serialises work on one case across processes)."""
    return await conn.fetchrow("SELECT * FROM sla_cases WHERE case_id = $1 FOR UPDATE", case_id)


async def note_submitted(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    street: str,
    community: str,
    category: str | None,
    priority: str,
    submitted_at: datetime,
) -> None:
    """Record a need's facts; what routing said already (it may have triaged the category) wins."""
    await conn.execute(
        """
        INSERT INTO sla_cases (case_id, street, community, category, priority, submitted_at, round_started_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6)
        ON CONFLICT (case_id) DO UPDATE SET
            street = COALESCE(sla_cases.street, EXCLUDED.street),
            community = COALESCE(sla_cases.community, EXCLUDED.community),
            category = COALESCE(sla_cases.category, EXCLUDED.category),
            submitted_at = COALESCE(sla_cases.submitted_at, EXCLUDED.submitted_at),
            round_started_at = COALESCE(sla_cases.round_started_at, EXCLUDED.round_started_at),
            updated_at = now()
        """,
        case_id,
        street,
        community,
        category,
        priority,
        submitted_at,
    )


async def note_routed(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    street: str,
    community: str,
    category: str | None,
    priority: str,
    sla_class: str | None,
    submitted_at: datetime,
    attempt: int,
    assignee: Assignee,
    co_handlers: Sequence[Assignee] = (),
) -> asyncpg.Record:
    """Record a routing and return the case row (locked by the upsert) with `has_deadlines`."""
    return await conn.fetchrow(
        """
        WITH noted AS (
        INSERT INTO sla_cases (case_id, street, community, category, priority, sla_class, submitted_at,
                               round_started_at, attempt, assignee_kind, assignee_code, co_handlers)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11::jsonb)
        ON CONFLICT (case_id) DO UPDATE SET
            street = EXCLUDED.street,
            community = EXCLUDED.community,
            category = COALESCE(EXCLUDED.category, sla_cases.category),
            priority = EXCLUDED.priority,
            sla_class = EXCLUDED.sla_class,
            submitted_at = COALESCE(sla_cases.submitted_at, EXCLUDED.submitted_at),
            round_started_at = COALESCE(sla_cases.round_started_at, EXCLUDED.round_started_at),
            attempt = GREATEST(sla_cases.attempt, EXCLUDED.attempt),
            assignee_kind = EXCLUDED.assignee_kind,
            assignee_code = EXCLUDED.assignee_code,
            co_handlers = EXCLUDED.co_handlers,
            updated_at = now()
        RETURNING *
        )
        -- Sees this transaction's earlier writes: a first routing needs no second round trip.
        SELECT noted.*, EXISTS (SELECT 1 FROM deadlines WHERE case_id = $1) AS has_deadlines FROM noted
        """,
        case_id,
        street,
        community,
        category,
        priority,
        sla_class,
        submitted_at,
        attempt,
        assignee.kind,
        assignee.code,
        orjson.dumps([c.model_dump() for c in co_handlers]).decode(),
    )


async def update_case(conn: asyncpg.Connection, *, case_id: str, **fields: Any) -> None:
    """Set some of a case's columns."""
    unknown = set(fields) - _CASE_FIELDS
    if unknown:
        raise ValueError(f"not case columns: {sorted(unknown)}")
    names = list(fields)
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(names))
    await conn.execute(
        f"UPDATE sla_cases SET {assignments}, updated_at = now() WHERE case_id = $1",
        case_id,
        *(fields[n] for n in names),
    )


async def get_case(conn: Conn, *, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM sla_cases WHERE case_id = $1", case_id)
