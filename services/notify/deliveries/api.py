"""The delivery log: every attempt's outcome, status and timing (never what the receiver answered).

Owners list their own key's deliveries; operators replay failed ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from services.notify.deps import Rt
from services.notify.store import deliveries as store_delivery
from shared.auth import Principal
from shared.http import ApiError, CurrentPrincipal, require_roles

router = APIRouter(prefix="/v1", tags=["deliveries"])
DeliveryStatus = Literal["pending", "retrying", "delivering", "delivered", "failed"]


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    """One subscription x event. `failed` is the dead letter: retries ran out (or it cannot be sent)."""

    id: int
    subscription_id: str
    event_id: str
    case_id: str
    event_type: str
    channel: str
    destination: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    retry_from: datetime
    delivered_at: datetime | None
    last_error: str | None
    last_status: int | None
    attempt_log: list[AttemptOut] | None = None


async def _own_subscription_ids(rt: Rt, principal: Principal) -> list[str] | None:
    if principal.role == "admin":
        return None
    if not principal.key_id:
        return []
    return await store_delivery.owned_subscription_ids(rt.pool, owner_key_id=principal.key_id)


@router.get("/deliveries", response_model=list[DeliveryOut], summary="Deliveries, newest first (yours; admin: all)")
async def list_deliveries(
    rt: Rt,
    principal: CurrentPrincipal,
    status: DeliveryStatus | None = None,
    subscription_id: Annotated[str | None, Query(max_length=64)] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, description="page: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    ids = await _own_subscription_ids(rt, principal)
    if subscription_id is not None:
        ids = [subscription_id] if ids is None or subscription_id in ids else []
    rows = await store_delivery.list_deliveries(
        rt.pool, status=status, subscription_ids=ids, case_id=case_id, before_id=before, limit=limit
    )
    return [DeliveryOut(**dict(r)) for r in rows]


async def _visible(rt: Rt, principal: Principal, delivery_id: int) -> dict[str, object]:
    row = await store_delivery.get_delivery(rt.pool, delivery_id=delivery_id)
    ids = await _own_subscription_ids(rt, principal)
    if row is None or (ids is not None and row["subscription_id"] not in ids):
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return dict(row)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, summary="One delivery with every attempt")
async def get_delivery(delivery_id: Annotated[int, Path(ge=1)], rt: Rt, principal: CurrentPrincipal) -> DeliveryOut:
    row = await _visible(rt, principal, delivery_id)
    attempts = await store_delivery.attempts_of(rt.pool, delivery_id=delivery_id)
    return DeliveryOut(**row, attempt_log=[AttemptOut(**dict(a)) for a in attempts])


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a failed delivery again (a fresh 24 h retry window)",
    dependencies=[require_roles("admin")],
)
async def replay(delivery_id: Annotated[int, Path(ge=1)], rt: Rt) -> DeliveryOut:
    row = await store_delivery.replay(rt.pool, delivery_id=delivery_id, now=rt.clock.now())
    if row is None:
        existing = await store_delivery.get_delivery(rt.pool, delivery_id=delivery_id)
        if existing is None:
            raise ApiError(404, "not_found", f"no delivery {delivery_id}")
        raise ApiError(409, "conflict", f"delivery {delivery_id} is {existing['status']}; only failed ones replay")
    worker = rt.extras.delivery_worker.get_or_none()
    if worker is not None:
        worker.wake()
    return DeliveryOut(**dict(row))
