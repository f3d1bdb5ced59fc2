"""SLA's SQL, deadlines, timers and firings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson

from services.sla.clocks import Deadline
from services.sla.store.types import Conn
from shared.events import Assignee

# --- deadlines ----------------------------------------------------------------------------------


def _pauses_out(pauses: Iterable[tuple[datetime, datetime]]) -> str:
    return orjson.dumps([[s.isoformat(), e.isoformat()] for s, e in pauses]).decode()


def _pauses_in(raw: str | None) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in orjson.loads(raw or "[]"))


def to_deadline(row: asyncpg.Record) -> Deadline:
    """A deadline row as the domain object."""
    kind, code = row["assignee_kind"], row["assignee_code"]
    return Deadline(
        id=row["id"],
        case_id=row["case_id"],
        kind=row["kind"],
        round=row["round"],
        attempt=row["attempt"],
        assignee=Assignee(kind=kind, code=code) if kind and code else None,
        sla_class=row["sla_class"] or "",
        calendar=row["calendar"] or "",
        duration=row["duration"],
        started_at=row["started_at"],
        pauses=_pauses_in(row["pauses"]),
        paused_at=row["paused_at"],
        status=row["state"],
        due_at=row["due_at"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
    )


async def load_deadlines(conn: asyncpg.Connection, *, case_id: str) -> list[Deadline]:
    rows = await conn.fetch("SELECT * FROM deadlines WHERE case_id = $1 ORDER BY id", case_id)
    return [to_deadline(r) for r in rows]


async def save_deadline(conn: asyncpg.Connection, d: Deadline, *, street: str | None) -> tuple[int, int]:
    """Insert or update a deadline; returns (id, generation), the generation bumped on every save."""
    args = (
        d.assignee.kind if d.assignee else None,
        d.assignee.code if d.assignee else None,
        d.sla_class,
        d.calendar,
        d.duration,
        d.started_at,
        d.due_at,
        d.status,
        _pauses_out(d.pauses),
        d.paused_at,
        d.stopped_at,
        d.stop_reason,
        d.attempt,
    )
    if d.id is None:
        row = await conn.fetchrow(
            """
            INSERT INTO deadlines (assignee_kind, assignee_code, sla_class, calendar, duration, started_at, due_at,
                                   state, pauses, paused_at, stopped_at, stop_reason, attempt,
                                   case_id, street, kind, round)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16, $17)
            RETURNING id, generation
            """,
            *args,
            d.case_id,
            street,
            d.kind,
            d.round,
        )
    else:
        row = await conn.fetchrow(
            """
            UPDATE deadlines SET assignee_kind = $1, assignee_code = $2, sla_class = $3, calendar = $4,
                duration = $5, started_at = $6, due_at = $7, state = $8, pauses = $9::jsonb, paused_at = $10,
                stopped_at = $11, stop_reason = $12, attempt = $13, generation = generation + 1, updated_at = now()
            WHERE id = $14 RETURNING id, generation
            """,
            *args,
            d.id,
        )
    return row["id"], row["generation"]


async def insert_deadlines(
    conn: asyncpg.Connection, rows: Sequence[tuple[Deadline, str | None]]
) -> dict[tuple[str, str, int, int], tuple[int, int]]:
    """Insert new (deadline, street) rows in one statement; returns (case, kind, round, attempt) -> (id, generation)."""
    if not rows:
        return {}
    ds = [d for d, _ in rows]
    saved = await conn.fetch(
        """
        INSERT INTO deadlines (case_id, street, kind, round, attempt, assignee_kind, assignee_code, sla_class,
                               calendar, duration, started_at, due_at, state, pauses, paused_at, stopped_at,
                               stop_reason)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[],
                             $8::text[], $9::text[], $10::interval[], $11::timestamptz[], $12::timestamptz[],
                             $13::text[], $14::jsonb[], $15::timestamptz[], $16::timestamptz[], $17::text[])
        RETURNING id, generation, case_id, kind, round, attempt
        """,
        [d.case_id for d in ds],
        [street for _, street in rows],
        [d.kind for d in ds],
        [d.round for d in ds],
        [d.attempt for d in ds],
        [d.assignee.kind if d.assignee else None for d in ds],
        [d.assignee.code if d.assignee else None for d in ds],
        [d.sla_class for d in ds],
        [d.calendar for d in ds],
        [d.duration for d in ds],
        [d.started_at for d in ds],
        [d.due_at for d in ds],
        [d.status for d in ds],
        [_pauses_out(d.pauses) for d in ds],
        [d.paused_at for d in ds],
        [d.stopped_at for d in ds],
        [d.stop_reason for d in ds],
    )
    # The identity indexes make (case, kind, round, attempt) unique, so it maps rows back.
    return {(r["case_id"], r["kind"], r["round"], r["attempt"]): (r["id"], r["generation"]) for r in saved}


async def deadlines_view(conn: Conn, *, case_id: str) -> list[asyncpg.Record]:
    """A case's deadlines with what fired and the next firing, for the API."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.*,
            (SELECT f.fired_at FROM firings f WHERE f.deadline_id = d.id AND f.step = 'breach') AS breached_at,
            COALESCE((SELECT array_agg(f.step ORDER BY f.fire_at, f.step) FROM firings f
                      WHERE f.deadline_id = d.id AND NOT f.skipped), '{}') AS fired_steps,
            t.step AS next_step, t.fire_at AS next_fire_at
        FROM deadlines d
        LEFT JOIN LATERAL (
            SELECT step, fire_at FROM timers WHERE deadline_id = d.id AND generation = d.generation
            ORDER BY fire_at LIMIT 1
        ) t ON true
        WHERE d.case_id = $1 ORDER BY d.id
        """,
        case_id,
    )
    return rows


# --- timers and firings -------------------------------------------------------------------------


async def drop_timers(conn: asyncpg.Connection, *, deadline_id: int) -> None:
    await conn.execute("DELETE FROM timers WHERE deadline_id = $1", deadline_id)


async def fired_steps(conn: Conn, *, deadline_ids: Sequence[int]) -> dict[int, set[str]]:
    """Steps already fired (or skipped) per deadline."""
    rows = await conn.fetch(
        "SELECT deadline_id, step FROM firings WHERE deadline_id = ANY($1::bigint[])", list(deadline_ids)
    )
    out: dict[int, set[str]] = {}
    for r in rows:
        out.setdefault(r["deadline_id"], set()).add(r["step"])
    return out


async def insert_timers(conn: asyncpg.Connection, rows: Sequence[tuple[int, int, str, datetime]]) -> None:
    """Insert (deadline_id, generation, step, fire_at) timers."""
    if not rows:
        return
    ids, gens, steps, at = (list(c) for c in zip(*rows, strict=True))
    await conn.execute(
        "INSERT INTO timers (deadline_id, generation, step, fire_at) "
        "SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[])",
        ids,
        gens,
        steps,
        at,
    )


async def claim_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Take due timers (deleting them; other processes skip them) joined with their deadlines."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        WITH due AS (
            DELETE FROM timers WHERE id IN (
                SELECT id FROM timers WHERE fire_at <= $1 ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED
            )
            RETURNING deadline_id, generation, step, fire_at
        )
        SELECT due.step AS timer_step, due.fire_at AS timer_fire_at, due.generation AS timer_generation, d.*
        FROM due JOIN deadlines d ON d.id = due.deadline_id
        ORDER BY due.fire_at
        """,
        now,
        limit,
    )
    return rows


async def record_firings(
    conn: asyncpg.Connection, rows: Sequence[tuple[int, str, datetime, datetime, bool]], *, fired_by: str
) -> set[tuple[int, str]]:
    """Record (deadline_id, step, fire_at, fired_at, skipped) firings; returns those new (never twice)."""
    if not rows:
        return set()
    ids, steps, due, fired, skipped = (list(c) for c in zip(*rows, strict=True))
    recorded = await conn.fetch(
        """
        INSERT INTO firings (deadline_id, step, fire_at, fired_at, skipped, fired_by)
        SELECT d, s, f, a, k, $6 FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                                          $5::bool[]) AS u(d, s, f, a, k)
        ON CONFLICT DO NOTHING RETURNING deadline_id, step
        """,
        ids,
        steps,
        due,
        fired,
        skipped,
        fired_by,
    )
    return {(r["deadline_id"], r["step"]) for r in recorded}


async def next_fire_at(conn: Conn) -> datetime | None:
    """The earliest armed timer's instant."""
    at: datetime | None = await conn.fetchval("SELECT min(fire_at) FROM timers")
    return at


async def notify_timers(conn: asyncpg.Connection, channel: str) -> None:
    """Wake every timer loop (delivered on commit) because a timer may now be due sooner."""
    await conn.execute("SELECT pg_notify($1, '')", channel)
