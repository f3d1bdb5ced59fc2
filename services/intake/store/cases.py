"""Intake's SQL for cases and their timelines. Keyword-only functions taking a connection; no business rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import orjson

from services.intake.duplicates import BoundingBox, OpenCase
from shared.events.status import CLOSED_STATUSES, StatusChange

# What the service layer and the handlers name a connection and a pool by (they may not import asyncpg).
Connection: TypeAlias = asyncpg.Connection
Pool: TypeAlias = asyncpg.Pool
Record: TypeAlias = asyncpg.Record
# What a failed statement raises (the survey import retries a batch row by row on it).
DatabaseError: TypeAlias = asyncpg.PostgresError
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
_CLOSED = sorted(CLOSED_STATUSES)
# Written into the SQL, not bound: a generic plan (asyncpg prepares statements) can then still
# prove the partial index `cases_open_by_category` applies. The values are our own constants.
_CLOSED_SQL = "ARRAY[" + ", ".join(f"'{s}'" for s in _CLOSED) + "]::text[]"
_CASE_COLUMNS = (
    "case_id, category, description, community, street, grid, lat, lon, address, address_id, address_key, "
    "reporter_kind, priority, vulnerable, pairing_id, language, contact, classification, attributes, media_url, "
    "source, reported_at, status, status_at, submitted_at, updated_at"
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def insert_cases(conn: asyncpg.Connection, *, cases: Sequence[dict[str, Any]]) -> None:
    """Store new cases (keys as in the `cases` table) with the first line of each timeline."""
    if not cases:
        return
    # The case and the first line of its timeline in one statement: one round trip per row.
    await conn.executemany(
        f"""
        WITH new_case AS (
            INSERT INTO cases ({_CASE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18::jsonb,
                    $19::jsonb, $20, $21, $22, 'submitted', $23, $23, $23)
            RETURNING case_id, submitted_at
        )
        INSERT INTO case_timeline (case_id, at, status) SELECT case_id, submitted_at, 'submitted' FROM new_case
        """,
        [
            (
                c["case_id"], c["category"], c["description"], c["community"], c["street"], c.get("grid"),
                c.get("lat"), c.get("lon"), c.get("address"), c.get("address_id"), c.get("address_key"),
                c["reporter_kind"], c["priority"], c["vulnerable"], c.get("pairing_id"), c["language"],
                _json(c.get("contact") or {}), _json(c.get("classification")), _json(c.get("attributes") or {}),
                c.get("media_url"), c.get("source", "api"), c.get("reported_at"), c["submitted_at"],
            )
            for c in cases
        ],
    )  # fmt: skip


@dataclass(frozen=True)
class Lookup:
    """Prefilter for a need's duplicates: open cases of its category since `since`, in the box or at the address."""

    category: str
    since: datetime
    box: BoundingBox | None
    community: str
    address_key: str | None


_COLUMNS = "case_id, category, lat, lon, community, submitted_at, address, reporter_count, status"
# Two index-friendly halves (cases_open_point, cases_open_address) rather than one OR.
_CANDIDATES = f"""
    SELECT * FROM (
        SELECT {_COLUMNS} FROM cases
        WHERE category = {{category}} AND status <> ALL({{closed}}) AND lat IS NOT NULL
          AND lat BETWEEN {{min_lat}} AND {{max_lat}} AND lon BETWEEN {{min_lon}} AND {{max_lon}}
          AND submitted_at >= {{since}}
        UNION
        SELECT {_COLUMNS} FROM cases
        WHERE category = {{category}} AND status <> ALL({{closed}}) AND address_key IS NOT NULL
          AND community = {{community}} AND address_key = {{address_key}} AND submitted_at >= {{since}}
    ) AS candidates
    ORDER BY submitted_at LIMIT 500
"""


def _lookup_args(lookup: Lookup) -> tuple[Any, ...]:
    box = lookup.box
    return (
        lookup.category,
        lookup.since,
        box.min_lat if box else None,
        box.max_lat if box else None,
        box.min_lon if box else None,
        box.max_lon if box else None,
        lookup.community,
        lookup.address_key,
    )


def _open_case(row: asyncpg.Record) -> OpenCase:
    return OpenCase(
        row["case_id"], row["category"], row["lat"], row["lon"], row["community"], row["submitted_at"], row["address"]
    )


async def lock_places(conn: asyncpg.Connection, places: Iterable[tuple[str, str]]) -> None:
    """Hold (category, community) locks until commit, taken before looking for duplicates.

    Two identical reports at the same instant, in any intake process, then see each other instead
    of both opening a case. Locks are taken in sorted order, so two groups cannot deadlock.
    """
    keys = sorted({f"duplicates:{category}|{community}" for category, community in places})
    if keys:  # unnest keeps the array's order, and the locks are taken in it
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k", keys)


async def open_candidates(conn: asyncpg.Connection, *, lookup: Lookup) -> list[OpenCase]:
    """Open cases that may be duplicates of one need (the exact test is duplicates.find_duplicate)."""
    query = _CANDIDATES.format(
        category="$1", since="$2", min_lat="$3", max_lat="$4", min_lon="$5", max_lon="$6",
        community="$7", address_key="$8", closed=_CLOSED_SQL,
    )  # fmt: skip
    rows = await conn.fetch(query, *_lookup_args(lookup))
    return [_open_case(r) for r in rows]


async def open_candidates_many(
    conn: asyncpg.Connection, *, lookups: dict[int, Lookup]
) -> dict[int, list[tuple[OpenCase, int, str]]]:
    """Candidates for many needs in one round trip: key → [(case, reporter_count, status)]."""
    if not lookups:
        return {}
    inner = _CANDIDATES.format(
        category="q.category", since="q.since", min_lat="q.min_lat", max_lat="q.max_lat", min_lon="q.min_lon",
        max_lon="q.max_lon", community="q.community", address_key="q.address_key", closed=_CLOSED_SQL,
    )  # fmt: skip
    columns = list(zip(*(_lookup_args(lk) for lk in lookups.values()), strict=True))
    rows = await conn.fetch(
        f"""
        SELECT q.key, found.* FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
                                          $6::float8[], $7::float8[], $8::text[], $9::text[])
            AS q(key, category, since, min_lat, max_lat, min_lon, max_lon, community, address_key)
        CROSS JOIN LATERAL ({inner}) AS found
        """,
        list(lookups),
        *[list(c) for c in columns],
    )
    out: dict[int, list[tuple[OpenCase, int, str]]] = {}
    for row in rows:
        out.setdefault(row["key"], []).append((_open_case(row), row["reporter_count"], row["status"]))
    return out


async def count_report(conn: asyncpg.Connection, *, case_id: str, now: datetime) -> asyncpg.Record | None:
    """One more reporter for an open case: (reporter_count, status), or None if it is no longer open."""
    return await conn.fetchrow(
        "UPDATE cases SET reporter_count = reporter_count + 1, updated_at = GREATEST(updated_at, $2) "
        "WHERE case_id = $1 AND status <> ALL($3::text[]) RETURNING reporter_count, status",
        case_id,
        now,
        _CLOSED,
    )


async def apply_change(
    conn: asyncpg.Connection, *, case_id: str, change: StatusChange, now: datetime, event_id: str
) -> bool:
    """Apply a status change unless newer events already moved each part on; False if the case is unknown."""
    assignee = change.assignee
    row = await conn.fetchrow(
        """
        UPDATE cases SET
            status = CASE WHEN $3 >= status_at THEN $2 ELSE status END,
            status_at = GREATEST(status_at, $3),
            assignee_kind = CASE WHEN $5::text IS NOT NULL AND $3 >= COALESCE(assignee_at, '-infinity')
                                 THEN $5 ELSE assignee_kind END,
            assignee_code = CASE WHEN $5::text IS NOT NULL AND $3 >= COALESCE(assignee_at, '-infinity')
                                 THEN $6 ELSE assignee_code END,
            assignee_at = CASE WHEN $5::text IS NOT NULL THEN GREATEST(assignee_at, $3) ELSE assignee_at END,
            status_note = CASE WHEN $7::text IS NOT NULL AND $3 >= COALESCE(note_at, '-infinity')
                               THEN $7 ELSE status_note END,
            note_at = CASE WHEN $7::text IS NOT NULL THEN GREATEST(note_at, $3) ELSE note_at END,
            public_note = CASE WHEN $9::text IS NOT NULL AND $3 >= COALESCE(public_note_at, '-infinity')
                               THEN $9 ELSE public_note END,
            public_note_at = CASE WHEN $9::text IS NOT NULL THEN GREATEST(public_note_at, $3) ELSE public_note_at END,
            resolved_round = GREATEST(resolved_round, $8),
            updated_at = GREATEST(updated_at, $4)
        WHERE case_id = $1
        RETURNING case_id
        """,
        case_id,
        change.status,
        change.at,
        now,
        assignee.kind if assignee else None,
        assignee.code if assignee else None,
        change.status_note,
        change.resolved_round,
        change.public_note,
    )
    if row is None:
        return False
    actor = f"{change.actor.kind}:{change.actor.code}" if change.actor else None
    await add_timeline(
        conn, case_id=case_id, at=change.at, status=change.status, note=change.note, actor=actor, event_id=event_id
    )
    return True


async def set_expected(
    conn: asyncpg.Connection, *, case_id: str, due_at: datetime | None, at: datetime, now: datetime
) -> bool:
    """Record the resolution deadline unless a newer one is already known; False if the case is unknown."""
    row = await conn.fetchrow(
        """
        UPDATE cases SET
            expected_at = CASE WHEN $3 >= COALESCE(expected_event_at, '-infinity') THEN $2 ELSE expected_at END,
            expected_event_at = GREATEST(expected_event_at, $3),
            updated_at = GREATEST(updated_at, $4)
        WHERE case_id = $1 RETURNING case_id
        """,
        case_id,
        due_at,
        at,
        now,
    )
    return row is not None


async def lock_cases(conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> set[str]:
    """Lock these cases' rows for the transaction, in id order; returns the ids that exist.

    Everything that updates several cases in one transaction (a consumer batch, a survey chunk's
    reporter counts) takes its row locks in id order, so two of them can never deadlock.
    """
    rows = await conn.fetch(
        "SELECT case_id FROM cases WHERE case_id = ANY($1::text[]) ORDER BY case_id FOR UPDATE", sorted(case_ids)
    )
    return {r["case_id"] for r in rows}


async def status_of(conn: asyncpg.Connection, *, case_id: str) -> tuple[str, datetime] | None:
    """A case's status and the time it was set, or None for an unknown case."""
    row = await conn.fetchrow("SELECT status, status_at FROM cases WHERE case_id = $1", case_id)
    return None if row is None else (row["status"], row["status_at"])


async def lock_for_feedback(conn: asyncpg.Connection, *, case_id: str) -> asyncpg.Record | None:
    """Lock one case row (status, resolved_round) so concurrent callback answers are ordered; None if unknown."""
    return await conn.fetchrow("SELECT status, resolved_round FROM cases WHERE case_id = $1 FOR UPDATE", case_id)


async def set_reporter_counts(conn: asyncpg.Connection, *, counts: Sequence[tuple[str, int]]) -> None:
    """Set the reporter count of cases created in this transaction (case_id, count)."""
    if counts:
        await conn.executemany("UPDATE cases SET reporter_count = $2 WHERE case_id = $1", list(counts))


async def bump_reporter_counts(conn: asyncpg.Connection, *, bumps: Sequence[tuple[str, int]], now: datetime) -> None:
    """Add reporters to stored cases (case_id, how many more), in id order so concurrent writers cannot deadlock."""
    if bumps:
        await conn.executemany(
            "UPDATE cases SET reporter_count = reporter_count + $2, updated_at = GREATEST(updated_at, $3) "
            "WHERE case_id = $1",
            [(case_id, n, now) for case_id, n in sorted(bumps)],
        )


async def add_timeline(
    conn: asyncpg.Connection,
    *,
    case_id: str,
    at: datetime,
    status: str,
    note: str | None = None,
    actor: str | None = None,
    event_id: str | None = None,
) -> None:
    """One line of the resident's timeline; an event id already there adds nothing."""
    await conn.execute(
        "INSERT INTO case_timeline (case_id, at, status, note, actor, event_id) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (event_id) DO NOTHING",
        case_id,
        at,
        status,
        note,
        actor,
        event_id,
    )


async def get_case(conn: Conn, *, case_id: str) -> asyncpg.Record | None:
    """One case row, or None."""
    return await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)


async def get_timeline(conn: Conn, *, case_id: str) -> list[asyncpg.Record]:
    """A case's timeline, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT at, status, note, actor FROM case_timeline WHERE case_id = $1 ORDER BY at, id", case_id
    )
    return rows


async def list_cases(
    conn: Conn,
    *,
    case_ids: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[asyncpg.Record]:
    """Cases newest first; ids, when given, override every other filter."""
    if case_ids is not None:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT * FROM cases WHERE case_id = ANY($1::text[]) "
            "ORDER BY submitted_at DESC, case_id LIMIT $2 OFFSET $3",
            list(case_ids),
            limit,
            offset,
        )
        return rows
    rows = await conn.fetch(
        """
        SELECT * FROM cases
        WHERE ($1::text[] IS NULL OR category = ANY($1::text[]))
          AND ($2::timestamptz IS NULL OR submitted_at >= $2)
          AND ($3::timestamptz IS NULL OR submitted_at <= $3)
          AND ($4::text[] IS NULL OR status = ANY($4::text[]))
        ORDER BY submitted_at DESC, case_id
        LIMIT $5 OFFSET $6
        """,
        list(categories) if categories is not None else None,
        start,
        end,
        list(statuses) if statuses is not None else None,
        limit,
        offset,
    )
    return rows
