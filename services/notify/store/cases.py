"""Notify's SQL for the projection, duplicate links, parked events and the stream table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.notify.audience import Audience
from services.notify.projection import CaseState
from services.notify.store import fetch_all
from shared.events import Assignee


def _assignees(raw: Any) -> list[Assignee]:
    items = orjson.loads(raw) if isinstance(raw, str | bytes) else (raw or [])
    return [Assignee(**a) for a in items]


def _state_of(row: asyncpg.Record) -> CaseState:
    deadlines = row["deadlines"]
    return CaseState(
        case_id=row["case_id"],
        status=row["status"],
        status_at=row["status_at"],
        category=row["category"],
        description=row["description"],
        community=row["community"],
        street=row["street"],
        grid=row["grid"],
        priority=row["priority"],
        sla_class=row["sla_class"],
        vulnerable=row["vulnerable"],
        submitted_at=row["submitted_at"],
        assignee=Assignee(kind=row["assignee_kind"], code=row["assignee_code"]) if row["assignee_kind"] else None,
        assignee_at=row["assignee_at"],
        attempt=row["attempt"],
        co_handlers=_assignees(row["co_handlers"]),
        previous=_assignees(row["previous"]),
        member=row["member"],
        deadlines=orjson.loads(deadlines) if isinstance(deadlines, str) else dict(deadlines or {}),
        reporter_count=row["reporter_count"],
        decline_count=row["decline_count"],
        round=row["round"],
        last_note=row["last_note"],
        satisfaction=row["satisfaction"],
        closed_at=row["closed_at"],
        last_event_at=row["last_event_at"],
    )


async def load_case(conn: asyncpg.Connection | asyncpg.Pool, *, case_id: str) -> CaseState | None:
    """One projected case, unlocked (for reading)."""
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    return _state_of(row) if row else None


async def lock_cases(conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> dict[str, CaseState]:
    """The projected cases among `case_ids`, locked for this transaction (in id order, so two
    notify processes locking overlapping sets cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT * FROM cases WHERE case_id = ANY($1::text[]) ORDER BY case_id FOR UPDATE", sorted(case_ids)
    )
    return {row["case_id"]: _state_of(row) for row in rows}


def _row_of(state: CaseState, now: datetime) -> dict[str, Any]:
    return {
        "case_id": state.case_id,
        "status": state.status,
        "status_at": state.status_at,
        "category": state.category,
        "description": state.description,
        "community": state.community,
        "street": state.street,
        "grid": state.grid,
        "priority": state.priority,
        "sla_class": state.sla_class,
        "vulnerable": state.vulnerable,
        "submitted_at": state.submitted_at,
        "assignee_kind": state.assignee.kind if state.assignee else None,
        "assignee_code": state.assignee.code if state.assignee else None,
        "assignee_at": state.assignee_at,
        "attempt": state.attempt,
        "co_handlers": [a.model_dump() for a in state.co_handlers],
        "previous": [a.model_dump() for a in state.previous],
        "co_departments": [c.code for c in state.co_handlers if c.kind == "department"],
        "co_teams": [c.code for c in state.co_handlers if c.kind == "team"],
        "member": state.member,
        "deadlines": state.deadlines,
        "sla_state": state.sla_state,
        "due_at": state.due_at,
        "escalation": state.escalation,
        "reporter_count": state.reporter_count,
        "decline_count": state.decline_count,
        "round": state.round,
        "last_note": state.last_note,
        "satisfaction": state.satisfaction,
        "closed_at": state.closed_at,
        "is_open": state.is_open,
        "last_event_at": state.last_event_at,
        "updated_at": now,
    }


CASE_COLUMNS = tuple(_row_of(CaseState(case_id=""), datetime.min))


async def save_cases(conn: asyncpg.Connection, states: Sequence[CaseState], *, now: datetime) -> None:
    """Write whole projected cases (insert or replace), all in one statement."""
    if not states:
        return
    columns = ", ".join(CASE_COLUMNS)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in CASE_COLUMNS if n != "case_id")
    # One JSON array of rows, typed by the table itself: no per-column array parameters to keep in step.
    await conn.execute(
        f"INSERT INTO cases ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::cases, $1::jsonb) "
        f"ON CONFLICT (case_id) DO UPDATE SET {updates}",
        orjson.dumps([_row_of(s, now) for s in states]).decode(),
    )


async def add_link(conn: asyncpg.Connection, *, submission_id: str, case_id: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO links (submission_id, case_id, linked_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        submission_id,
        case_id,
        at,
    )


async def submissions_of(conn: asyncpg.Connection | asyncpg.Pool, *, case_id: str) -> list[str]:
    """Reports linked to a case as duplicates (their reporters follow the case)."""
    return (await submissions_of_cases(conn, case_ids=[case_id])).get(case_id, [])


async def submissions_of_cases(
    conn: asyncpg.Connection | asyncpg.Pool, *, case_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Linked reports of each case that has any, oldest link first."""
    rows = await conn.fetch(
        "SELECT case_id, submission_id FROM links WHERE case_id = ANY($1::text[]) ORDER BY linked_at", list(case_ids)
    )
    linked: dict[str, list[str]] = {}
    for r in rows:
        linked.setdefault(r["case_id"], []).append(r["submission_id"])
    return linked


async def cases_with_parked(conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> set[str]:
    """Which of these cases have events waiting for their street."""
    rows = await conn.fetch("SELECT DISTINCT case_id FROM parked WHERE case_id = ANY($1::text[])", list(case_ids))
    return {r["case_id"] for r in rows}


async def linked_cases(conn: asyncpg.Connection | asyncpg.Pool, *, submission_id: str) -> list[str]:
    """Open cases a resident's own report was linked to."""
    rows = await conn.fetch("SELECT case_id FROM links WHERE submission_id = $1", submission_id)
    return [r["case_id"] for r in rows]


async def park(
    conn: asyncpg.Connection, *, event_id: str, case_id: str, at: datetime, envelope: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO parked (event_id, case_id, event_time, envelope) VALUES ($1, $2, $3, $4::jsonb) "
        "ON CONFLICT DO NOTHING",
        event_id,
        case_id,
        at,
        orjson.dumps(envelope).decode(),
    )


async def unpark(conn: asyncpg.Connection, *, case_id: str) -> list[dict[str, Any]]:
    """Take every parked envelope of a case, oldest first."""
    rows = await conn.fetch("DELETE FROM parked WHERE case_id = $1 RETURNING event_time, envelope", case_id)
    ordered = sorted(rows, key=lambda r: r["event_time"])
    return [orjson.loads(r["envelope"]) if isinstance(r["envelope"], str) else r["envelope"] for r in ordered]


async def lock_stream(conn: asyncpg.Connection, *, schema: str) -> None:
    """Serialise stream writers so stream ids commit in order: Last-Event-ID resumption then has no gap."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}:stream")


@dataclass(frozen=True)
class StreamEntry:
    """One fanned-out event as the stream table keeps it."""

    event_id: str
    case_id: str
    type: str
    audience: Audience
    envelope: dict[str, Any]

    def row(self) -> dict[str, Any]:
        a = self.audience
        return {
            "event_id": self.event_id,
            "case_id": self.case_id,
            "type": self.type,
            "street": a.street,
            "department": a.department,
            "team": a.team,
            "co_departments": list(a.co_departments),
            "co_teams": list(a.co_teams),
            "submission_ids": list(a.submission_ids),
            "envelope": self.envelope,
        }


async def append_stream(conn: asyncpg.Connection, entries: Sequence[StreamEntry], *, channel: str) -> None:
    """Record fanned-out events for SSE, in order, and wake every notify process's stream hub on commit."""
    if not entries:
        return
    columns = "event_id, case_id, type, street, department, team, co_departments, co_teams, submission_ids, envelope"
    # Rows, ids in the given order, and the wake-up in one round trip (NOTIFY is delivered on commit).
    await conn.execute(
        f"WITH appended AS (INSERT INTO stream ({columns}) SELECT {columns} "
        "FROM jsonb_populate_recordset(NULL::stream, $1::jsonb) WITH ORDINALITY AS r ORDER BY r.ordinality "
        "ON CONFLICT (event_id) DO NOTHING RETURNING 1) "
        "SELECT pg_notify($2, '') FROM (SELECT 1 FROM appended LIMIT 1) AS any_appended",
        orjson.dumps([e.row() for e in entries]).decode(),
        channel,
    )


STREAM_COLUMNS = "id, case_id, type, street, department, team, co_departments, co_teams, submission_ids, envelope"


async def stream_after(
    conn: asyncpg.Connection | asyncpg.Pool, *, after_id: int, limit: int = 1000
) -> list[asyncpg.Record]:
    return await fetch_all(
        conn, f"SELECT {STREAM_COLUMNS} FROM stream WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit
    )


async def stream_ids(conn: asyncpg.Connection | asyncpg.Pool, *, ids: list[int]) -> list[asyncpg.Record]:
    return await fetch_all(conn, f"SELECT {STREAM_COLUMNS} FROM stream WHERE id = ANY($1::bigint[]) ORDER BY id", ids)


async def max_stream_id(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM stream"))
