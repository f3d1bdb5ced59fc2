"""The cases table: recording new cases, reading them, moving them, listing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import orjson

from shared.events import Assignee

# A connection or the pool: either runs one statement (asyncpg is untyped, so this is Any to mypy).
Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool
# What the service layer names a transaction's connection by (it does not import asyncpg itself).
Connection: TypeAlias = asyncpg.Connection
# A case's decisions, declines and steps (rows by table), as `history` reads them.
History: TypeAlias = dict[str, list[asyncpg.Record]]


@dataclass(frozen=True)
class Case:
    """Routing's row for one case."""

    case_id: str
    category: str | None
    community: str
    street: str
    priority: str
    status: str
    assignee: Assignee | None
    co_handlers: tuple[Assignee, ...]
    member: str | None
    attempt: int
    decided_by: str
    final: bool
    decline_count: int
    round: int
    team_slot: str | None
    need: dict[str, Any]
    submitted_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    first_feedback_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


def _assignees(raw: Any) -> tuple[Assignee, ...]:
    items = orjson.loads(raw) if isinstance(raw, str | bytes) else raw or []
    return tuple(Assignee.model_validate(i) for i in items)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def to_case(row: asyncpg.Record) -> Case:
    """A case from its row."""
    need = row["need"]
    return Case(
        case_id=row["case_id"],
        category=row["category"],
        community=row["community"],
        street=row["street"],
        priority=row["priority"],
        status=row["status"],
        assignee=Assignee(kind=row["assignee_kind"], code=row["assignee_code"]) if row["assignee_kind"] else None,
        co_handlers=_assignees(row["co_handlers"]),
        member=row["member"],
        attempt=row["attempt"],
        decided_by=row["decided_by"],
        final=row["final"],
        decline_count=row["decline_count"],
        round=row["round"],
        team_slot=row["team_slot"],
        need=orjson.loads(need) if isinstance(need, str | bytes) else need,
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        signed_at=row["signed_at"],
        first_feedback_at=row["first_feedback_at"],
        resolved_at=row["resolved_at"],
        closed_at=row["closed_at"],
    )


@dataclass(frozen=True)
class NewCase:
    """A submitted need as routing first records it."""

    case_id: str
    need: dict[str, Any]
    submitted_at: datetime


async def insert_cases(conn: asyncpg.Connection, cases: Sequence[NewCase], *, now: datetime) -> dict[str, Case]:
    """Record new cases in one statement; returns those routing did not know yet."""
    if not cases:
        return {}
    rows = await conn.fetch(
        """
        INSERT INTO cases (case_id, category, community, street, priority, status, need, submitted_at, updated_at)
        SELECT c, cat, com, st, pri, 'new', n, sub, $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
            AS u(c, cat, com, st, pri, n, sub)
        ON CONFLICT (case_id) DO NOTHING RETURNING *
        """,
        [c.case_id for c in cases],
        [c.need.get("category") for c in cases],
        [c.need["community"] for c in cases],
        [c.need["street"] for c in cases],
        [c.need.get("priority", "normal") for c in cases],
        [_dumps(c.need) for c in cases],
        [c.submitted_at for c in cases],
        now,
    )
    return {r["case_id"]: to_case(r) for r in rows}


async def get_case(conn: Executor, *, case_id: str, for_update: bool = False) -> Case | None:
    """One case (locked for the rest of the transaction when `for_update`)."""
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT * FROM cases WHERE case_id = $1{lock}", case_id)
    return to_case(row) if row else None


@dataclass(frozen=True)
class Assignment:
    """A routing decision to record: who, with whom, why, decided how."""

    case_id: str
    assignee: Assignee
    co_handlers: Sequence[Assignee]
    reasons: Sequence[str]
    member: str | None = None
    decided_by: str = "rules"
    final: bool = False


async def record_assignments(
    conn: asyncpg.Connection, assignments: Sequence[Assignment], *, now: datetime
) -> dict[str, int]:
    """Give each case to its assignee (status routed), one statement for all; returns case -> attempt."""
    if not assignments:
        return {}
    # One round trip: move the cases and log the decisions (this runs for every routed need).
    rows = await conn.fetch(
        """
        WITH a AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::bool[],
                                 $8::jsonb[]) AS u(case_id, kind, code, co, member, decided_by, final, reasons)
        ), moved AS (
            UPDATE cases c SET status = 'routed', assignee_kind = a.kind, assignee_code = a.code, co_handlers = a.co,
                   member = a.member, decided_by = a.decided_by, final = a.final, attempt = c.attempt + 1,
                   signed_at = NULL, updated_at = $9
            FROM a WHERE c.case_id = a.case_id RETURNING c.case_id, c.attempt
        )
        INSERT INTO assignments (case_id, attempt, assignee_kind, assignee_code, co_handlers, reasons, decided_at,
                                 decided_by, final, member)
        SELECT a.case_id, moved.attempt, a.kind, a.code, a.co, a.reasons, $9, a.decided_by, a.final, a.member
        FROM a JOIN moved USING (case_id) RETURNING case_id, attempt
        """,
        [a.case_id for a in assignments],
        [a.assignee.kind for a in assignments],
        [a.assignee.code for a in assignments],
        [_dumps([c.model_dump() for c in a.co_handlers]) for a in assignments],
        [a.member for a in assignments],
        [a.decided_by for a in assignments],
        [a.final for a in assignments],
        [_dumps(list(a.reasons)) for a in assignments],
        now,
    )
    return {r["case_id"]: r["attempt"] for r in rows}


async def set_arbitration(conn: asyncpg.Connection, *, case_id: str, street: str, now: datetime) -> None:
    """The street office holds the case until it arbitrates."""
    await conn.execute(
        "UPDATE cases SET status = 'arbitration', assignee_kind = 'street_office', assignee_code = $2, "
        "co_handlers = '[]'::jsonb, member = NULL, signed_at = NULL, updated_at = $3 WHERE case_id = $1",
        case_id,
        street,
        now,
    )


async def set_status(conn: asyncpg.Connection, *, case_id: str, status: str, now: datetime, **stamps: Any) -> None:
    """Move the case to `status`, setting any of the timestamp / counter columns given."""
    allowed = {"signed_at", "first_feedback_at", "resolved_at", "closed_at", "round", "priority", "member", "category"}
    if unknown := set(stamps) - allowed:
        raise ValueError(f"not settable: {sorted(unknown)}")
    cols = list(stamps)
    sets = "".join(f", {c} = ${i + 4}" for i, c in enumerate(cols))
    await conn.execute(
        f"UPDATE cases SET status = $2, updated_at = $3{sets} WHERE case_id = $1",
        case_id,
        status,
        now,
        *(stamps[c] for c in cols),
    )


async def set_need_category(conn: asyncpg.Connection, *, case_id: str, category: str) -> None:
    """Record the category the street office gave an untriaged case."""
    await conn.execute(
        "UPDATE cases SET category = $2, need = jsonb_set(need, '{category}', to_jsonb($2::text)) WHERE case_id = $1",
        case_id,
        category,
    )


async def history(conn: Executor, *, case_id: str) -> History:
    """The case's decisions, declines and steps, oldest first."""
    return {
        "decisions": await conn.fetch("SELECT * FROM assignments WHERE case_id = $1 ORDER BY attempt", case_id),
        "declines": await conn.fetch("SELECT * FROM declines WHERE case_id = $1 ORDER BY id", case_id),
        "steps": await conn.fetch("SELECT * FROM steps WHERE case_id = $1 ORDER BY id", case_id),
    }


async def list_cases(
    conn: Executor,
    *,
    street: str | None = None,
    assignee: Assignee | None = None,
    statuses: Sequence[str] = (),
    category_missing: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Case]:
    """Cases matching every filter given, most recently changed first."""
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    if street is not None:
        args.append(street)
        where.append(f"street = ${len(args)}")
    if assignee is not None:
        args += [assignee.kind, assignee.code]
        where.append(f"assignee_kind = ${len(args) - 1} AND assignee_code = ${len(args)}")
    if statuses:
        args.append(list(statuses))
        where.append(f"status = ANY(${len(args)}::text[])")
    if category_missing:
        where.append("category IS NULL")
    args += [limit, offset]
    rows = await conn.fetch(
        f"SELECT * FROM cases WHERE {' AND '.join(where)} ORDER BY updated_at DESC, case_id "
        f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return [to_case(r) for r in rows]
