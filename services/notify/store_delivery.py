"""Notify's SQL for subscriptions, deliveries and the attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notify.audience import Audience
from services.notify.channels import Outcome
from services.notify.subscriptions import destination_of, owner_principal, wants_type

Conn = asyncpg.Connection | asyncpg.Pool
SUBSCRIPTION_COLUMNS = (
    "id, owner_role, owner_scope, owner_case, owner_name, channel, target, event_types, scope_kind, scope_code, "
    "language, active, created_at, description"
)
DELIVERY_COLUMNS = (
    "id, subscription_id, event_id, case_id, event_type, channel, destination, status, attempts, next_attempt_at, "
    "created_at, retry_from, delivered_at, last_error, last_status"
)


async def create_subscription(conn: Conn, **values: Any) -> asyncpg.Record:
    names = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await conn.fetchrow(
        f"INSERT INTO subscriptions ({', '.join(names)}) VALUES ({placeholders}) RETURNING {SUBSCRIPTION_COLUMNS}",
        *values.values(),
    )


async def get_subscription(conn: Conn, *, subscription_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1", subscription_id)


async def list_subscriptions(conn: Conn, *, owner: tuple[str, str | None, str | None] | None) -> list[asyncpg.Record]:
    """Active subscriptions; only the owner's when `owner` = (role, scope, case) is given."""
    if owner is None:
        return await conn.fetch(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE active ORDER BY created_at")
    return await conn.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE active AND owner_role = $1 "
        "AND owner_scope IS NOT DISTINCT FROM $2 AND owner_case IS NOT DISTINCT FROM $3 ORDER BY created_at",
        *owner,
    )


async def deactivate_subscription(conn: Conn, *, subscription_id: str) -> None:
    """Stop a subscription; pending deliveries of it are abandoned as failed."""
    await conn.execute("UPDATE subscriptions SET active = false WHERE id = $1", subscription_id)
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', last_error = 'subscription deleted' "
        "WHERE subscription_id = $1 AND status IN ('pending', 'retrying')",
        subscription_id,
    )


async def active_subscriptions(conn: Conn) -> list[asyncpg.Record]:
    """Every active subscription (a consumer batch reads them once, not once per event)."""
    return await conn.fetch(
        "SELECT id, owner_role, owner_scope, owner_case, channel, target, event_types, scope_kind, scope_code "
        "FROM subscriptions WHERE active"
    )


def _in_scope(row: asyncpg.Record, audience: Audience) -> bool:
    kind, code = row["scope_kind"], row["scope_code"]
    if kind == "all":
        return True
    if kind == "street":
        return code == (audience.street or "")
    if kind == "department":
        return code in audience.departments
    if kind == "team":
        return code in audience.teams
    return kind == "case" and code in (audience.case_id, *audience.submission_ids)


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to queue: one subscription, one event."""

    subscription_id: str
    channel: str
    destination: str
    event_id: str
    case_id: str
    event_type: str
    body: str  # the envelope as JSON


def deliveries_for(
    subscriptions: Sequence[asyncpg.Record], *, audience: Audience, event_type: str, event_id: str, body: str
) -> list[NewDelivery]:
    """One delivery per subscription that wants this event and may see it."""
    return [
        NewDelivery(
            r["id"],
            r["channel"],
            destination_of(r["channel"], r["target"]),
            event_id,
            audience.case_id,
            event_type,
            body,
        )
        for r in subscriptions
        if _in_scope(r, audience)
        and wants_type(r["event_types"], event_type)
        and audience.visible_to(owner_principal(dict(r)))
    ]


async def queue_deliveries(conn: asyncpg.Connection, deliveries: Sequence[NewDelivery], *, now: datetime) -> int:
    """Insert deliveries in the consuming transaction, in one statement; a repeat inserts nothing."""
    if not deliveries:
        return 0
    result = await conn.fetch(
        "INSERT INTO deliveries (subscription_id, event_id, case_id, event_type, channel, destination, envelope, "
        "next_attempt_at, created_at, retry_from) "
        "SELECT s, e, k, t, c, d, b::jsonb, $8, $8, $8 "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
        "AS u(s, e, k, t, c, d, b) "
        "ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING id",
        [d.subscription_id for d in deliveries],
        [d.event_id for d in deliveries],
        [d.case_id for d in deliveries],
        [d.event_type for d in deliveries],
        [d.channel for d in deliveries],
        [d.destination for d in deliveries],
        [d.body for d in deliveries],
        now,
    )
    return len(result)


async def claim_due(
    conn: Conn, *, now: datetime, lease: timedelta, limit: int, busy: Sequence[str]
) -> list[asyncpg.Record]:
    """Lease due deliveries (and ones whose lease expired), skipping saturated destinations."""
    return await conn.fetch(
        "WITH due AS (SELECT id FROM deliveries WHERE "
        "((status IN ('pending', 'retrying') AND next_attempt_at <= $1) "
        "OR (status = 'delivering' AND lease_until < $1)) "
        "AND destination <> ALL($4::text[]) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE deliveries d SET status = 'delivering', lease_until = $2 FROM due, subscriptions s "
        "WHERE d.id = due.id AND s.id = d.subscription_id "
        "RETURNING d.id, d.subscription_id, d.event_id, d.case_id, d.event_type, d.channel, d.destination, "
        "d.envelope, d.attempts, d.retry_from, s.target, s.secret, s.language, s.active",
        now,
        now + lease,
        limit,
        list(busy),
    )


async def record_attempt(
    pool: asyncpg.Pool,
    *,
    delivery_id: int,
    attempt: int,
    started_at: datetime,
    duration_ms: int,
    outcome: Outcome,
    status: str,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    """Log one attempt and move the delivery to its next state, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, "
            "error, response_excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            delivery_id,
            attempt,
            started_at,
            duration_ms,
            outcome.outcome,
            outcome.status_code,
            outcome.error,
            outcome.excerpt,
        )
        await conn.execute(
            "UPDATE deliveries SET status = $2, attempts = $3, next_attempt_at = COALESCE($4, next_attempt_at), "
            "lease_until = NULL, last_error = $5, last_status = $6, "
            "delivered_at = CASE WHEN $2 = 'delivered' THEN $7 ELSE delivered_at END WHERE id = $1",
            delivery_id,
            status,
            attempt,
            next_attempt_at,
            outcome.error,
            outcome.status_code,
            now,
        )


async def list_deliveries(
    conn: Conn,
    *,
    status: str | None,
    subscription_ids: Sequence[str] | None,
    case_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first; `subscription_ids` limits to those subscriptions (None: all)."""
    return await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($1::text IS NULL OR status = $1) "
        "AND ($2::text[] IS NULL OR subscription_id = ANY($2::text[])) AND ($3::text IS NULL OR case_id = $3) "
        "AND ($4::bigint IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        status,
        list(subscription_ids) if subscription_ids is not None else None,
        case_id,
        before_id,
        limit,
    )


async def get_delivery(conn: Conn, *, delivery_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1", delivery_id)


async def attempts_of(conn: Conn, *, delivery_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT attempt, started_at, duration_ms, outcome, status_code, error, response_excerpt "
        "FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt, id",
        delivery_id,
    )


async def replay(conn: Conn, *, delivery_id: int, now: datetime) -> asyncpg.Record | None:
    """Put a failed delivery back in the queue with a fresh retry window (attempt numbers continue)."""
    return await conn.fetchrow(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = $2, retry_from = $2, last_error = NULL "
        f"WHERE id = $1 AND status = 'failed' RETURNING {DELIVERY_COLUMNS}",
        delivery_id,
        now,
    )


async def sms_messages(conn: Conn, *, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, phone, body, delivery_id, sent_at FROM sms_messages ORDER BY id DESC LIMIT $1", limit
    )
