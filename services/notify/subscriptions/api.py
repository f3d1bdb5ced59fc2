"""Subscriptions: each belongs to the key (or resident token) that made it and stays within its scope.

Webhooks are for staff keys, to public addresses only. SMS and e-mail targets get a code first
and nothing else until it comes back (`POST /v1/subscriptions/{id}/confirm`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from services.notify.channels import channel_of
from services.notify.deps import Subscriptions
from services.notify.subscriptions import service_layer
from services.notify.subscriptions.models import ConfirmIn, ScopeIn, SubscriptionIn, SubscriptionOut
from shared.http import ApiError, CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["subscriptions"])
SubscriptionId = Annotated[str, Path(max_length=64)]


def to_out(row: dict[str, Any], *, secret_set: bool = True) -> SubscriptionOut:
    """The owner's view: contact targets masked, the secret only as `secret_set`."""
    channel = channel_of(str(row["channel"]))
    return SubscriptionOut(
        id=str(row["id"]),
        channel=str(row["channel"]),
        target=channel.mask(str(row["target"])),
        event_types=list(row["event_types"]),
        scope=ScopeIn(kind=row["scope_kind"], code=str(row["scope_code"])),
        language=str(row["language"]),
        active=bool(row["active"]),
        confirmed=row["confirmed_at"] is not None,
        secret_set=channel.signs and secret_set,
        created_at=row["created_at"],
        description=row["description"],
    )


def _unavailable(exc: service_layer.CodeNotSent) -> ApiError:
    # shared.errors has no 503: a code that could not go out is the one "try again shortly" here.
    return ApiError(503, exc.code, exc.message, fields=exc.fields)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe within your scope")
async def create(body: SubscriptionIn, deps: Subscriptions, principal: CurrentPrincipal) -> SubscriptionOut:
    try:
        return to_out(await service_layer.create(deps, principal=principal, body=body))
    except service_layer.CodeNotSent as exc:
        raise _unavailable(exc) from None


@router.get("/subscriptions", response_model=list[SubscriptionOut], summary="Your key's subscriptions (admin: all)")
async def list_own(deps: Subscriptions, principal: CurrentPrincipal) -> list[SubscriptionOut]:
    return [to_out(r) for r in await service_layer.list_own(deps, principal=principal)]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One of your subscriptions")
async def get_one(subscription_id: SubscriptionId, deps: Subscriptions, principal: CurrentPrincipal) -> SubscriptionOut:
    return to_out(await service_layer.owned(deps, principal=principal, subscription_id=subscription_id))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def delete(subscription_id: SubscriptionId, deps: Subscriptions, principal: CurrentPrincipal) -> Response:
    await service_layer.stop(deps, principal=principal, subscription_id=subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/confirm",
    response_model=SubscriptionOut,
    summary="Confirm an SMS or e-mail subscription with the code its target received",
)
async def confirm(
    subscription_id: SubscriptionId, body: ConfirmIn, deps: Subscriptions, principal: CurrentPrincipal
) -> SubscriptionOut:
    row = await service_layer.confirm(deps, principal=principal, subscription_id=subscription_id, code=body.code)
    return to_out(row)


@router.post(
    "/subscriptions/{subscription_id}/resend",
    status_code=202,
    response_model=SubscriptionOut,
    summary="Send a new confirmation code to an unconfirmed SMS or e-mail subscription",
)
async def resend(subscription_id: SubscriptionId, deps: Subscriptions, principal: CurrentPrincipal) -> SubscriptionOut:
    try:
        return to_out(await service_layer.resend(deps, principal=principal, subscription_id=subscription_id))
    except service_layer.CodeNotSent as exc:
        raise _unavailable(exc) from None
