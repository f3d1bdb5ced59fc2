"""Notify's SQL for confirming SMS and e-mail targets and for the subscription quota."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.notify.confirmation import Pending
from services.notify.store.deliveries import SUBSCRIPTION_COLUMNS


async def create_within_quota(
    pool: asyncpg.Pool, *, limit: int, values: dict[str, Any]
) -> tuple[asyncpg.Record | None, int]:
    """Insert a subscription unless its owner already holds `limit` active ones; (row or None, count held).

    The owner's count and the insert happen under a per-owner lock, so parallel requests cannot
    overshoot the quota.
    """
    owner = values["owner_key_id"]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('notify-subscription-quota:' || $1))", owner)
        held = int(await conn.fetchval("SELECT count(*) FROM subscriptions WHERE active AND owner_key_id = $1", owner))
        if held >= limit:
            return None, held
        names = list(values)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        row = await conn.fetchrow(
            f"INSERT INTO subscriptions ({', '.join(names)}) VALUES ({placeholders}) RETURNING {SUBSCRIPTION_COLUMNS}",
            *values.values(),
        )
        return row, held + 1


async def codes_sent_since(conn: asyncpg.Pool | asyncpg.Connection, *, target_hash: str, since: datetime) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM confirmation_sends WHERE target_hash = $1 AND sent_at > $2", target_hash, since
        )
    )


async def oldest_send_since(
    conn: asyncpg.Pool | asyncpg.Connection, *, target_hash: str, since: datetime
) -> datetime | None:
    oldest: datetime | None = await conn.fetchval(
        "SELECT min(sent_at) FROM confirmation_sends WHERE target_hash = $1 AND sent_at > $2", target_hash, since
    )
    return oldest


async def record_code(
    pool: asyncpg.Pool, *, subscription_id: str, target_hash: str, code_hash: str, expires_at: datetime, now: datetime
) -> None:
    """Store a new code's hash (the previous one stops working) and count the send against the target."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE subscriptions SET confirm_code_hash = $2, confirm_expires_at = $3, confirm_attempts = 0, "
            "confirm_sent_at = $4 WHERE id = $1",
            subscription_id,
            code_hash,
            expires_at,
            now,
        )
        await conn.execute("INSERT INTO confirmation_sends (target_hash, sent_at) VALUES ($1, $2)", target_hash, now)


async def pending_of(conn: asyncpg.Connection, *, subscription_id: str) -> tuple[Pending, datetime | None]:
    """A subscription's confirmation state, locked for the rest of the transaction; and when its code was sent."""
    row = await conn.fetchrow(
        "SELECT confirmed_at, confirm_code_hash, confirm_expires_at, confirm_attempts, confirm_sent_at "
        "FROM subscriptions WHERE id = $1 FOR UPDATE",
        subscription_id,
    )
    pending = Pending(
        confirmed=row["confirmed_at"] is not None,
        code_hash=row["confirm_code_hash"],
        expires_at=row["confirm_expires_at"],
        attempts=row["confirm_attempts"],
    )
    return pending, row["confirm_sent_at"]


async def count_attempt(conn: asyncpg.Connection, *, subscription_id: str) -> int:
    """One more wrong code; returns the attempts made so far."""
    return int(
        await conn.fetchval(
            "UPDATE subscriptions SET confirm_attempts = confirm_attempts + 1 WHERE id = $1 RETURNING confirm_attempts",
            subscription_id,
        )
    )


async def confirm(conn: asyncpg.Connection, *, subscription_id: str, now: datetime) -> asyncpg.Record:
    """The target proved it asked: from now on it gets events. The code is forgotten."""
    return await conn.fetchrow(
        "UPDATE subscriptions SET confirmed_at = $2, confirm_code_hash = NULL, confirm_expires_at = NULL "
        f"WHERE id = $1 RETURNING {SUBSCRIPTION_COLUMNS}",
        subscription_id,
        now,
    )
