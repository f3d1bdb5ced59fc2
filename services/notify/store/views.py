"""Read-side SQL for the dashboard: open cases filtered and paged on the server, and aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.notify.store import fetch_all
from services.notify.store.cases import STREAM_COLUMNS
from shared.auth import Principal

SORTS = {
    "due": "due_at ASC NULLS LAST, submitted_at DESC",
    "submitted": "submitted_at DESC NULLS LAST",
    "updated": "updated_at DESC",
    "sla": "CASE sla_state WHEN 'breached' THEN 0 WHEN 'warning' THEN 1 WHEN 'on_track' THEN 2 ELSE 3 END, "
    "due_at ASC NULLS LAST",
}
CASE_COLUMNS = (
    "case_id, status, category, description, community, street, grid, priority, sla_class, vulnerable, "
    "assignee_kind, assignee_code, co_handlers, member, sla_state, due_at, escalation, deadlines, reporter_count, "
    "decline_count, round, last_note, submitted_at, updated_at, closed_at, is_open"
)


@dataclass
class Where:
    """A WHERE clause built from parts, with numbered parameters."""

    parts: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def param(self, value: Any) -> str:
        """Bind a value; returns its placeholder (`$n`)."""
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, sql: str) -> None:
        self.parts.append(sql)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "TRUE"


def scope_clause(principal: Principal, where: Where, *, linked: tuple[str, ...] = ()) -> None:
    """Only the cases this caller may see (the same rules as the stream's audience)."""
    if principal.role == "admin":
        return
    if principal.case_id is not None:
        where.add(f"case_id = ANY({where.param([principal.case_id, *linked])}::text[])")
    elif principal.role in ("street_office", "grid_worker"):
        if principal.scope:
            where.add(f"street = {where.param(principal.scope)}")
    elif principal.role == "department":
        p = where.param(principal.scope)
        where.add(f"((assignee_kind = 'department' AND assignee_code = {p}) OR {p} = ANY(co_departments))")
    elif principal.role == "team":
        p = where.param(principal.scope)
        where.add(f"((assignee_kind = 'team' AND assignee_code = {p}) OR {p} = ANY(co_teams))")
    else:
        where.add("FALSE")


async def list_cases(
    conn: asyncpg.Pool, *, where: Where, sort: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """One page of cases and the total matching count."""
    n = len(where.args)
    rows = await conn.fetch(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE {where.sql()} ORDER BY {SORTS[sort]}, case_id "
        f"LIMIT ${n + 1} OFFSET ${n + 2}",
        *where.args,
        limit,
        offset,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM cases WHERE {where.sql()}", *where.args)
    return rows, int(total)


async def get_case(conn: asyncpg.Pool, *, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1", case_id)


async def overview(conn: asyncpg.Pool, *, where: Where) -> dict[str, Any]:
    """Counts of open cases by SLA state and status, and how many are escalated."""
    rows = await conn.fetch(
        f"SELECT sla_state, status, escalation, count(*) AS n FROM cases WHERE is_open AND {where.sql()} "
        "GROUP BY sla_state, status, escalation",
        *where.args,
    )
    by_sla: dict[str, int] = {}
    by_status: dict[str, int] = {}
    escalated: dict[str, int] = {}
    for r in rows:
        by_sla[r["sla_state"]] = by_sla.get(r["sla_state"], 0) + r["n"]
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        if r["escalation"]:
            escalated[r["escalation"]] = escalated.get(r["escalation"], 0) + r["n"]
    return {"open": sum(by_status.values()), "by_sla_state": by_sla, "by_status": by_status, "escalated": escalated}


async def demand(conn: asyncpg.Pool, *, where: Where, since: datetime, zone: str) -> list[asyncpg.Record]:
    """Cases submitted per local day and category since `since`."""
    n = len(where.args)
    return await fetch_all(
        conn,
        f"SELECT (submitted_at AT TIME ZONE ${n + 2})::date AS day, COALESCE(category, '') AS category, "
        f"count(*) AS n FROM cases WHERE submitted_at >= ${n + 1} AND {where.sql()} GROUP BY 1, 2 ORDER BY 1",
        *where.args,
        since,
        zone,
    )


async def open_by_category(conn: asyncpg.Pool, *, where: Where) -> dict[str, int]:
    rows = await conn.fetch(
        f"SELECT COALESCE(category, '') AS category, count(*) AS n FROM cases WHERE is_open AND {where.sql()} "
        "GROUP BY 1",
        *where.args,
    )
    return {r["category"]: r["n"] for r in rows}


async def stream_between(conn: asyncpg.Pool, *, after_id: int, until_id: int, limit: int) -> list[asyncpg.Record]:
    """Stream rows with `after_id < id <= until_id`, oldest first, at most `limit` of them (a replay)."""
    return await fetch_all(
        conn,
        f"SELECT {STREAM_COLUMNS} FROM stream WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3",
        after_id,
        until_id,
        limit,
    )


@dataclass(frozen=True)
class CaseFilter:
    """The dashboard's filters, already checked against the catalogue; None/empty = no filter."""

    state: str = "all"  # open | closed | all
    category: str | None = None  # a code, or "unclassified"
    community: str | None = None
    assignee_kind: str = ""  # with assignee_code: exactly that owner; empty: the code as lead or co-handler
    assignee_code: str | None = None
    sla_state: str | None = None
    escalated: bool | None = None
    status: str | None = None
    q: str | None = None
    case_id: str | None = None


def add_filter(where: Where, f: CaseFilter) -> None:
    """The WHERE clauses of one filter (every value a parameter)."""
    if f.state != "all":
        where.add("is_open" if f.state == "open" else "NOT is_open")
    if f.category:
        where.add("category IS NULL" if f.category == "unclassified" else f"category = {where.param(f.category)}")
    if f.community:
        where.add(f"community = {where.param(f.community)}")
    if f.assignee_code is not None:
        p = where.param(f.assignee_code)
        if f.assignee_kind:
            where.add(f"assignee_kind = {where.param(f.assignee_kind)} AND assignee_code = {p}")
        else:
            where.add(f"(assignee_code = {p} OR {p} = ANY(co_departments) OR {p} = ANY(co_teams))")
    if f.sla_state:
        where.add(f"sla_state = {where.param(f.sla_state)}")
    if f.escalated is not None:
        where.add("escalation IS NOT NULL" if f.escalated else "escalation IS NULL")
    if f.status:
        where.add(f"status = {where.param(f.status)}")
    if f.q:
        p = where.param(f"%{f.q.replace('%', '').replace('_', '')}%")
        where.add(f"(description ILIKE {p} OR case_id ILIKE {p})")
    if f.case_id is not None:
        where.add(f"case_id = {where.param(f.case_id)}")
