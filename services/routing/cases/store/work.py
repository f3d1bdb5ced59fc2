"""A case's work record: team capacity, declines, previous assignees and the steps taken."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.routing.cases.store.cases import Executor
from shared.events import Assignee


async def team_loads(conn: Executor) -> dict[str, int]:
    """Open cases per team."""
    return {r["team"]: r["open_cases"] for r in await conn.fetch("SELECT team, open_cases FROM team_load")}


async def take_team_slot(
    conn: asyncpg.Connection, *, case_id: str, team: str, capacity: int, force: bool = False
) -> bool:
    """Count the case against the team's capacity; False (nothing changed) when the team is full.

    The conditional UPDATE row-locks the team's counter: a concurrent transaction for the same
    team waits, then re-checks the condition against the committed count.
    """
    if force:
        await conn.execute(
            "INSERT INTO team_load (team, open_cases) VALUES ($1, 1) "
            "ON CONFLICT (team) DO UPDATE SET open_cases = team_load.open_cases + 1",
            team,
        )
    else:
        await conn.execute("INSERT INTO team_load (team) VALUES ($1) ON CONFLICT (team) DO NOTHING", team)
        taken = await conn.fetchval(
            "UPDATE team_load SET open_cases = open_cases + 1 WHERE team = $1 AND open_cases < $2 RETURNING open_cases",
            team,
            capacity,
        )
        if taken is None:
            return False
    await conn.execute("UPDATE cases SET team_slot = $2 WHERE case_id = $1", case_id, team)
    return True


async def release_team_slot(conn: asyncpg.Connection, *, case_id: str) -> str | None:
    """Give back the capacity slot the case holds, if any; returns the team."""
    team: str | None = await conn.fetchval(
        "UPDATE cases c SET team_slot = NULL FROM (SELECT team_slot FROM cases WHERE case_id = $1) AS old "
        "WHERE c.case_id = $1 AND old.team_slot IS NOT NULL RETURNING old.team_slot",
        case_id,
    )
    if team is not None:
        await conn.execute("UPDATE team_load SET open_cases = GREATEST(open_cases - 1, 0) WHERE team = $1", team)
    return team


async def add_decline(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    attempt: int,
    assignee: Assignee,
    reason_code: str,
    reason_text: str | None,
    now: datetime,
) -> int:
    """Record a decline; returns the case's decline count."""
    await conn.execute(
        "INSERT INTO declines (case_id, attempt, assignee_kind, assignee_code, reason_code, reason_text, declined_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        case_id,
        attempt,
        assignee.kind,
        assignee.code,
        reason_code,
        reason_text,
        now,
    )
    count: int = await conn.fetchval(
        "UPDATE cases SET decline_count = decline_count + 1, updated_at = $2 WHERE case_id = $1 "
        "RETURNING decline_count",
        case_id,
        now,
    )
    return count


async def decliners(conn: Executor, *, case_id: str) -> list[Assignee]:
    """Everyone who declined the case, first first."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (assignee_kind, assignee_code) assignee_kind, assignee_code, id FROM declines "
        "WHERE case_id = $1 ORDER BY assignee_kind, assignee_code, id",
        case_id,
    )
    return [Assignee(kind=r["assignee_kind"], code=r["assignee_code"]) for r in sorted(rows, key=lambda r: r["id"])]


async def previous_assignees(conn: Executor, *, case_id: str) -> list[Assignee]:
    """Everyone the case was given to before, in order, without repeats."""
    rows = await conn.fetch(
        "SELECT assignee_kind, assignee_code FROM assignments WHERE case_id = $1 ORDER BY attempt", case_id
    )
    seen = dict.fromkeys(Assignee(kind=r["assignee_kind"], code=r["assignee_code"]) for r in rows)
    return list(seen)


async def add_step(
    conn: asyncpg.Connection, *, case_id: str, round_: int, action: str, actor: str, note: str | None, at: datetime
) -> None:
    """Append a workflow step to the case history."""
    await conn.execute(
        "INSERT INTO steps (case_id, round, action, actor, note, at) VALUES ($1, $2, $3, $4, $5, $6)",
        case_id,
        round_,
        action,
        actor,
        note,
        at,
    )
