"""Delivery-log use cases: what the caller may see of the log, and the operator's replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notify.store import deliveries as store_delivery
from services.notify.store.deliveries import Pool
from shared.auth import Principal
from shared.errors import Conflict, NotFound

Row = dict[str, Any]


async def own_subscription_ids(pool: Pool, principal: Principal) -> list[str] | None:
    """The subscriptions whose deliveries the caller may see; None = all (admin)."""
    if principal.role == "admin":
        return None
    if not principal.key_id:
        return []
    return await store_delivery.owned_subscription_ids(pool, owner_key_id=principal.key_id)


async def list_deliveries(
    pool: Pool,
    *,
    principal: Principal,
    status: str | None,
    subscription_id: str | None,
    case_id: str | None,
    before: int | None,
    limit: int,
) -> list[Row]:
    """The caller's deliveries, newest first (admin: all)."""
    ids = await own_subscription_ids(pool, principal)
    if subscription_id is not None:
        ids = [subscription_id] if ids is None or subscription_id in ids else []
    rows = await store_delivery.list_deliveries(
        pool, status=status, subscription_ids=ids, case_id=case_id, before_id=before, limit=limit
    )
    return [dict(r) for r in rows]


async def visible(pool: Pool, *, principal: Principal, delivery_id: int) -> tuple[Row, list[Row]]:
    """One delivery the caller may see, with every attempt; NotFound otherwise."""
    row = await store_delivery.get_delivery(pool, delivery_id=delivery_id)
    ids = await own_subscription_ids(pool, principal)
    if row is None or (ids is not None and row["subscription_id"] not in ids):
        raise NotFound(f"no delivery {delivery_id}")
    attempts = await store_delivery.attempts_of(pool, delivery_id=delivery_id)
    return dict(row), [dict(a) for a in attempts]


async def replay(pool: Pool, *, delivery_id: int, now: datetime) -> Row:
    """A failed delivery queued again with a fresh retry window; Conflict if it has not failed."""
    row = await store_delivery.replay(pool, delivery_id=delivery_id, now=now)
    if row is None:
        existing = await store_delivery.get_delivery(pool, delivery_id=delivery_id)
        if existing is None:
            raise NotFound(f"no delivery {delivery_id}")
        raise Conflict(f"delivery {delivery_id} is {existing['status']}; only failed ones replay")
    return dict(row)
