"""Intake's SQL for submissions (reports and their Open311 tokens), idempotency keys and callbacks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import orjson

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def insert_submissions(conn: asyncpg.Connection, *, rows: Sequence[dict[str, Any]]) -> None:
    """Record accepted reports: submission_id, case_id, linked, reporter_kind, source, contact, created_at,
    and a linked report's own description, address, lat, lon, grid and vulnerable."""
    if not rows:
        return
    await conn.executemany(
        "INSERT INTO submissions (submission_id, case_id, linked, reporter_kind, source, contact, created_at, "
        "description, address, lat, lon, grid, vulnerable) "
        "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13)",
        [
            (
                r["submission_id"],
                r["case_id"],
                r["linked"],
                r["reporter_kind"],
                r["source"],
                orjson.dumps(r.get("contact") or {}).decode(),
                r["created_at"],
                r.get("description"),
                r.get("address"),
                r.get("lat"),
                r.get("lon"),
                r.get("grid"),
                r.get("vulnerable"),
            )
            for r in rows
        ],
    )


async def get_submission(conn: Conn, *, submission_id: str) -> asyncpg.Record | None:
    """One submission (an Open311 token), or None."""
    return await conn.fetchrow(
        "SELECT submission_id, case_id, linked, created_at FROM submissions WHERE submission_id = $1", submission_id
    )


async def get_own_submission(conn: Conn, *, submission_id: str) -> asyncpg.Record | None:
    """A reporter's own submission with what they reported (own words and place only when linked)."""
    return await conn.fetchrow(
        "SELECT submission_id, case_id, linked, reporter_kind, contact, description, address, lat, lon, grid, "
        "vulnerable FROM submissions WHERE submission_id = $1",
        submission_id,
    )


async def claim_idempotency_key(
    conn: asyncpg.Connection, *, scope: str, key: str, request_hash: str, now: datetime
) -> asyncpg.Record | None:
    """Claim a key inside the caller's transaction; None if claimed now, else the earlier row.

    A concurrent request with the same key waits on the row lock until the first commits.
    """
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        scope,
        key,
        request_hash,
        now,
    )
    if inserted:
        return None
    return await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key
    )


async def finish_idempotency_key(
    conn: asyncpg.Connection, *, scope: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    """Store the response a claimed key answered with."""
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = $3, response = $4::jsonb WHERE scope = $1 AND key = $2",
        scope,
        key,
        status_code,
        orjson.dumps(response).decode(),
    )


async def insert_feedback(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    round_: int,
    respondent: str,
    counted: bool,
    solved: bool,
    satisfaction: str,
    comment: str | None,
    reopen: bool,
    at: datetime,
) -> bool:
    """Record one respondent's answer for a round; False when they already answered that round."""
    inserted = await conn.fetchval(
        "INSERT INTO feedback (case_id, round, respondent, counted, solved, satisfaction, comment, reopen, "
        "received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING 1",
        case_id,
        round_,
        respondent,
        counted,
        solved,
        satisfaction,
        comment,
        reopen,
        at,
    )
    return bool(inserted)


async def round_counted(conn: Conn, *, case_id: str, round_: int) -> bool:
    """Whether a round already has its counted (first) answer."""
    return bool(
        await conn.fetchval("SELECT 1 FROM feedback WHERE case_id = $1 AND round = $2 AND counted", case_id, round_)
    )


async def get_feedback(conn: Conn, *, case_id: str, respondent: str | None = None) -> list[asyncpg.Record]:
    """A case's callback answers (only one respondent's when given), oldest round first, first answer first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT round, respondent, counted, solved, satisfaction, comment, reopen, received_at FROM feedback "
        "WHERE case_id = $1 AND ($2::text IS NULL OR respondent = $2) ORDER BY round, received_at, respondent",
        case_id,
        respondent,
    )
    return rows
