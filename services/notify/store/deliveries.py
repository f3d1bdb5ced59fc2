"""Notify's SQL for subscriptions, deliveries and the attempt log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from services.notify.audience import Audience
from services.notify.channels import Outcome, channel_of
from services.notify.store import fetch_all
from services.notify.subscriptions.rules import owner_principal, wants_type

Pool: TypeAlias = asyncpg.Pool
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
SUBSCRIPTION_COLUMNS = (
    "id, owner_role, owner_scope, owner_case, owner_name, owner_key_id, channel, target, event_types, scope_kind, "
    "scope_code, language, active, confirmed_at, created_at, description"
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


async def list_subscriptions(conn: Conn, *, owner_key_id: str | None) -> list[asyncpg.Record]:
    """Active subscriptions; only those of the credential `owner_key_id` when given (None: all, for admin)."""
    if owner_key_id is None:
        return await fetch_all(
            conn, f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE active ORDER BY created_at"
        )
    return await fetch_all(
        conn,
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE active AND owner_key_id = $1 ORDER BY created_at",
        owner_key_id,
    )


async def owned_subscription_ids(conn: Conn, *, owner_key_id: str) -> list[str]:
    """Every subscription this credential made, stopped ones included (their delivery log stays readable)."""
    rows = await conn.fetch("SELECT id FROM subscriptions WHERE owner_key_id = $1", owner_key_id)
    return [r["id"] for r in rows]


async def count_active(conn: Conn, *, owner_key_id: str) -> int:
    """How many active subscriptions (confirmed or not) a credential holds: what the quota counts."""
    return int(
        await conn.fetchval("SELECT count(*) FROM subscriptions WHERE active AND owner_key_id = $1", owner_key_id)
    )


async def deactivate_subscription(conn: Conn, *, subscription_id: str, reason: str = "deleted") -> None:
    """Stop a subscription; pending deliveries of it are abandoned as failed."""
    await conn.execute(
        "UPDATE subscriptions SET active = false, inactive_reason = $2, confirm_code_hash = NULL WHERE id = $1",
        subscription_id,
        reason,
    )
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', last_error = $2 "
        "WHERE subscription_id = $1 AND status IN ('pending', 'retrying')",
        subscription_id,
        f"subscription {reason}",
    )


async def active_owner_ids(conn: Conn) -> list[str]:
    """The credentials that own at least one active subscription."""
    rows = await conn.fetch("SELECT DISTINCT owner_key_id FROM subscriptions WHERE active AND owner_key_id IS NOT NULL")
    return [r["owner_key_id"] for r in rows]


async def deactivate_owned_by(pool: asyncpg.Pool, *, owner_key_ids: Sequence[str], reason: str) -> int:
    """Stop every subscription of these credentials and abandon their pending deliveries; returns how many."""
    if not owner_key_ids:
        return 0
    async with pool.acquire() as conn, conn.transaction():
        ids = [
            r["id"]
            for r in await conn.fetch(
                "UPDATE subscriptions SET active = false, inactive_reason = $2, confirm_code_hash = NULL "
                "WHERE active AND owner_key_id = ANY($1::text[]) RETURNING id",
                list(owner_key_ids),
                reason,
            )
        ]
        if ids:
            await conn.execute(
                "UPDATE deliveries SET status = 'failed', last_error = $2 "
                "WHERE subscription_id = ANY($1::text[]) AND status IN ('pending', 'retrying')",
                ids,
                f"subscription stopped: {reason}",
            )
    return len(ids)


async def active_subscriptions(conn: Conn) -> list[asyncpg.Record]:
    """Every subscription that may receive events: active and confirmed (read once per consumer batch)."""
    return await fetch_all(
        conn,
        "SELECT id, owner_role, owner_scope, owner_case, channel, target, event_types, scope_kind, scope_code "
        "FROM subscriptions WHERE active AND confirmed_at IS NOT NULL AND owner_key_id IS NOT NULL",
    )


def _in_scope(row: asyncpg.Record, audience: Audience) -> bool:
    kind, code = row["scope_kind"], row["scope_code"]
    if kind == "all":
        return True
    if kind == "street":
        return str(code) == (audience.street or "")
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
            channel_of(r["channel"]).destination(r["target"]),
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
    return await fetch_all(
        conn,
        "WITH due AS (SELECT id FROM deliveries WHERE "
        "((status IN ('pending', 'retrying') AND next_attempt_at <= $1) "
        "OR (status = 'delivering' AND lease_until < $1)) "
        "AND destination <> ALL($4::text[]) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "UPDATE deliveries d SET status = 'delivering', lease_until = $2 FROM due, subscriptions s "
        "WHERE d.id = due.id AND s.id = d.subscription_id "
        "RETURNING d.id, d.subscription_id, d.event_id, d.case_id, d.event_type, d.channel, d.destination, "
        "d.envelope, d.attempts, d.retry_from, s.target, s.secret, s.language, s.owner_key_id, "
        "(s.active AND s.confirmed_at IS NOT NULL) AS active",
        now,
        now + lease,
        limit,
        list(busy),
    )


async def abandon(conn: Conn, *, delivery_id: int, reason: str) -> None:
    """A claimed delivery that will not be sent (its subscription stopped): failed, no attempt made."""
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1",
        delivery_id,
        reason,
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
            "error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            delivery_id,
            attempt,
            started_at,
            duration_ms,
            outcome.outcome,
            outcome.status_code,
            outcome.error,
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
    return await fetch_all(
        conn,
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
    return await fetch_all(
        conn,
        "SELECT attempt, started_at, duration_ms, outcome, status_code, error "
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
    return await fetch_all(
        conn, "SELECT id, phone, body, delivery_id, sent_at FROM sms_messages ORDER BY id DESC LIMIT $1", limit
    )


async def record_sms(conn: Conn, *, phone: str, body: str, delivery_id: int | None, now: datetime) -> None:
    """The development SMS provider's outbox: one row per message it would have sent."""
    await conn.execute(
        "INSERT INTO sms_messages (phone, body, delivery_id, sent_at) VALUES ($1, $2, $3, $4)",
        phone,
        body,
        delivery_id,
        now,
    )


async def release(conn: Conn, *, delivery_id: int) -> None:
    """Hand a claimed delivery back at once (its destination is at its limit in this process)."""
    await conn.execute(
        "UPDATE deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, "
        "lease_until = NULL WHERE id = $1",
        delivery_id,
    )
