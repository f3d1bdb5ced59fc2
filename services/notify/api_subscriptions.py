"""Subscriptions: residents, departments, teams, street offices and external systems, each within its own scope."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.notify import store, store_delivery
from services.notify.audience import Audience, audience_for
from services.notify.deps import Runtime, settings_of
from services.notify.subscriptions import (
    FilterError,
    Scope,
    ScopeError,
    check_event_types,
    check_scope,
    default_scope,
)
from services.notify.urlguard import UnsafeUrl, check_resolved, check_url
from shared.auth import Principal
from shared.http import ApiError, CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["subscriptions"])
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9]{6,15}$")
SubscriptionId = Annotated[str, Path(max_length=64)]


class ScopeIn(BaseModel):
    """What to hear about: `all` (admin only), a street, a department, a team or one case."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["all", "street", "department", "team", "case"]
    code: str = Field("", max_length=64)


class SubscriptionIn(BaseModel):
    """A new subscription. `target` is the webhook URL, e-mail address or phone number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["webhook", "email", "sms"]
    target: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=256, description="webhook signing secret")
    event_types: list[str] = Field(default_factory=list, max_length=50, description="types or prefixes ending in *")
    scope: ScopeIn | None = Field(None, description="defaults to the caller's own scope")
    language: Literal["zh", "en"] = "zh"
    description: str | None = Field(None, max_length=200)


class SubscriptionOut(BaseModel):
    """A subscription as its owner sees it; the webhook secret is never shown again."""

    id: str
    channel: str
    target: str
    event_types: list[str]
    scope: ScopeIn
    language: str
    active: bool
    secret_set: bool
    created_at: datetime
    description: str | None = None


def _mask(channel: str, target: str) -> str:
    """Contact details are shown masked: they are personal data."""
    if channel == "email":
        name, _, domain = target.partition("@")
        return f"{name[:1]}***@{domain}"
    if channel == "sms":
        return f"{target[:3]}****{target[-4:]}"
    return target


def to_out(row: dict[str, object], *, secret_set: bool = True) -> SubscriptionOut:
    return SubscriptionOut(
        id=str(row["id"]),
        channel=str(row["channel"]),
        target=_mask(str(row["channel"]), str(row["target"])),
        event_types=list(row["event_types"]),  # type: ignore[call-overload]
        scope=ScopeIn(kind=row["scope_kind"], code=str(row["scope_code"])),  # type: ignore[arg-type]
        language=str(row["language"]),
        active=bool(row["active"]),
        secret_set=row["channel"] == "webhook" and secret_set,
        created_at=row["created_at"],  # type: ignore[arg-type]
        description=row["description"],  # type: ignore[arg-type]
    )


def owner_key(principal: Principal) -> tuple[str, str | None, str | None]:
    return principal.role, principal.scope, principal.case_id


async def _case_audience(rt: Runtime, case_id: str) -> Audience | None:
    state = await store.load_case(rt.pool, case_id=case_id)
    if state is None:
        return None
    submissions = await store.submissions_of(rt.pool, case_id=case_id)
    return audience_for(before=state, after=state, payload=None, submission_ids=submissions)


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe within your scope")
async def create(body: SubscriptionIn, rt: Runtime, principal: CurrentPrincipal) -> SubscriptionOut:
    settings = settings_of(rt)
    if body.channel == "webhook":
        try:
            check_url(body.target, allow_loopback=settings.loopback_allowed)
            async with asyncio.timeout(3):
                await check_resolved(body.target, allow_loopback=settings.loopback_allowed)
        except UnsafeUrl as exc:
            raise field_error("target", f"webhook URL refused: {exc}") from None
        except TimeoutError:
            pass  # slow DNS: checked again before every send
        if not body.secret:
            raise field_error("secret", "a webhook needs a signing secret of at least 16 characters")
    elif body.channel == "email" and not EMAIL.match(body.target):
        raise field_error("target", "not an e-mail address")
    elif body.channel == "sms" and not PHONE.match(body.target.replace(" ", "").replace("-", "")):
        raise field_error("target", "not a phone number (digits, optional leading +)")
    try:
        event_types = check_event_types(body.event_types)
    except FilterError as exc:
        raise field_error("event_types", str(exc)) from None
    try:
        if body.scope is None:
            scope = default_scope(principal)
        else:
            wanted = Scope(body.scope.kind, body.scope.code if body.scope.kind != "all" else "")
            if wanted.kind != "all" and not wanted.code:
                raise field_error("scope.code", f"a {wanted.kind} scope needs a code")
            audience = await _case_audience(rt, wanted.code) if wanted.kind == "case" else None
            scope = check_scope(principal, wanted, case_audience=audience)
    except ScopeError as exc:
        raise ApiError(
            403, "forbidden", str(exc), fields=[{"field": "scope", "message": "outside your scope"}]
        ) from None
    target = body.target if body.channel == "webhook" else body.target.replace(" ", "").replace("-", "")
    row = await store_delivery.create_subscription(
        rt.pool,
        id=f"sub_{uuid.uuid4().hex}",
        owner_role=principal.role,
        owner_scope=principal.scope,
        owner_case=principal.case_id,
        owner_name=principal.name,
        channel=body.channel,
        target=target if body.channel != "email" else body.target,
        secret=body.secret if body.channel == "webhook" else None,
        event_types=event_types,
        scope_kind=scope.kind,
        scope_code=scope.code,
        language=body.language,
        created_at=rt.clock.now(),
        description=body.description,
    )
    return to_out(dict(row))


@router.get("/subscriptions", response_model=list[SubscriptionOut], summary="Your subscriptions (admin: all)")
async def list_own(rt: Runtime, principal: CurrentPrincipal) -> list[SubscriptionOut]:
    owner = None if principal.role == "admin" else owner_key(principal)
    rows = await store_delivery.list_subscriptions(rt.pool, owner=owner)
    return [to_out(dict(r)) for r in rows]


async def owned(rt: Runtime, principal: Principal, subscription_id: str) -> dict[str, object]:
    """The subscription if the caller owns it (admin: any); 404 otherwise, so ids do not leak."""
    row = await store_delivery.get_subscription(rt.pool, subscription_id=subscription_id)
    if (
        row is None
        or not row["active"]
        or (
            principal.role != "admin"
            and (row["owner_role"], row["owner_scope"], row["owner_case"]) != owner_key(principal)
        )
    ):
        raise ApiError(404, "not_found", f"no subscription {subscription_id}")
    return dict(row)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One of your subscriptions")
async def get_one(subscription_id: SubscriptionId, rt: Runtime, principal: CurrentPrincipal) -> SubscriptionOut:
    return to_out(await owned(rt, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def delete(subscription_id: SubscriptionId, rt: Runtime, principal: CurrentPrincipal) -> Response:
    await owned(rt, principal, subscription_id)
    await store_delivery.deactivate_subscription(rt.pool, subscription_id=subscription_id)
    return Response(status_code=204)
