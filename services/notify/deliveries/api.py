"""The delivery log: every attempt's outcome, status and timing (never what the receiver answered).

Owners list their own key's deliveries; operators replay failed ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from services.notify.deliveries import service_layer
from services.notify.deliveries.models import AttemptOut, DeliveryOut
from services.notify.deps import Rt
from shared.http import CurrentPrincipal, require_roles

router = APIRouter(prefix="/v1", tags=["deliveries"])
DeliveryStatus = Literal["pending", "retrying", "delivering", "delivered", "failed"]


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
    rows = await service_layer.list_deliveries(
        rt.pool,
        principal=principal,
        status=status,
        subscription_id=subscription_id,
        case_id=case_id,
        before=before,
        limit=limit,
    )
    return [DeliveryOut.model_validate(r) for r in rows]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, summary="One delivery with every attempt")
async def get_delivery(delivery_id: Annotated[int, Path(ge=1)], rt: Rt, principal: CurrentPrincipal) -> DeliveryOut:
    row, attempts = await service_layer.visible(rt.pool, principal=principal, delivery_id=delivery_id)
    return DeliveryOut.model_validate({**row, "attempt_log": [AttemptOut.model_validate(a) for a in attempts]})


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a failed delivery again (a fresh 24 h retry window)",
    dependencies=[require_roles("admin")],
)
async def replay(delivery_id: Annotated[int, Path(ge=1)], rt: Rt) -> DeliveryOut:
    row = await service_layer.replay(rt.pool, delivery_id=delivery_id, now=rt.clock.now())
    worker = rt.extras.delivery_worker.get_or_none()
    if worker is not None:
        worker.wake()
    return DeliveryOut.model_validate(row)
