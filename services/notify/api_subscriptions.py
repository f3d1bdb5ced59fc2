"""Subscriptions: each belongs to the key (or resident token) that made it and stays within its scope.

Webhooks are for staff keys, to public addresses only. SMS and e-mail targets get a code first
and nothing else until it comes back (`POST /v1/subscriptions/{id}/confirm`).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from services.notify.audience import Audience, audience_for
from services.notify.code_sender import send_code
from services.notify.confirmation import (
    RESEND_COOLDOWN_SECONDS,
    check_code,
    generate_code,
    hash_code,
    hash_target,
)
from services.notify.deps import Rt
from services.notify.settings import NotifySettings
from services.notify.store import cases as store
from services.notify.store import confirm as store_confirm
from services.notify.store import deliveries as store_delivery
from services.notify.subscriptions import (
    FilterError,
    Scope,
    ScopeError,
    check_event_types,
    check_scope,
    default_scope,
)
from services.notify.urlguard import UnsafeUrl, parse_url, pin
from shared.auth import Principal
from shared.http import ApiError, CurrentPrincipal, field_error
from shared.text import CleanModel

router = APIRouter(prefix="/v1", tags=["subscriptions"])
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9]{6,15}$")
SubscriptionId = Annotated[str, Path(max_length=64)]
HOUR = timedelta(hours=1)


class ScopeIn(CleanModel):
    """What to hear about: `all` (admin only), a street, a department, a team or one case."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["all", "street", "department", "team", "case"]
    code: str = Field("", max_length=64)


class SubscriptionIn(CleanModel):
    """A new subscription. `target` is the webhook URL (staff keys only), e-mail address or phone number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["webhook", "email", "sms"]
    target: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=256, description="webhook signing secret")
    event_types: list[str] = Field(default_factory=list, max_length=50, description="types or prefixes ending in *")
    scope: ScopeIn | None = Field(None, description="defaults to the caller's own scope")
    language: Literal["zh", "en"] = "zh"
    description: str | None = Field(None, max_length=200)


class ConfirmIn(CleanModel):
    """The code the SMS or e-mail target received."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=16)


class SubscriptionOut(BaseModel):
    """A subscription as its owner sees it; the webhook secret is never shown again."""

    id: str
    channel: str
    target: str
    event_types: list[str]
    scope: ScopeIn
    language: str
    active: bool
    confirmed: bool = Field(description="SMS and e-mail: false until the code sent to the target comes back")
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
        confirmed=row["confirmed_at"] is not None,
        secret_set=row["channel"] == "webhook" and secret_set,
        created_at=row["created_at"],  # type: ignore[arg-type]
        description=row["description"],  # type: ignore[arg-type]
    )


def too_many(message: str, retry_after: float) -> HTTPException:
    """429 with `Retry-After` in whole seconds."""
    return HTTPException(429, message, headers={"Retry-After": str(max(1, int(retry_after + 0.999)))})


async def _case_audience(rt: Rt, case_id: str) -> Audience | None:
    state = await store.load_case(rt.pool, case_id=case_id)
    if state is None:
        return None
    submissions = await store.submissions_of(rt.pool, case_id=case_id)
    return audience_for(before=state, after=state, payload=None, submission_ids=submissions)


async def _check_webhook(rt: Rt, settings: NotifySettings, principal: Principal, body: SubscriptionIn) -> None:
    """Staff only, a public address (resolved now; again, and pinned, at every send), and a secret."""
    if principal.role == "resident" or principal.case_id is not None:
        raise ApiError(
            403,
            "forbidden",
            "webhooks are for staff keys; a resident token may subscribe by sms or email",
            fields=[{"field": "channel", "message": "webhook needs a staff key"}],
        )
    allow = settings.loopback_allowed
    try:
        target = parse_url(body.target, allow_loopback=allow)
        async with asyncio.timeout(settings.webhook_dns_timeout_seconds):
            await pin(target, resolver=rt.extras.webhook_resolver, allow_loopback=allow)
    except UnsafeUrl as exc:  # Unresolvable included: a subscription is checked against what its name answers now
        raise field_error("target", f"webhook URL refused: {exc}") from None
    except TimeoutError:
        raise field_error(
            "target", f"webhook URL refused: its host did not resolve within {settings.webhook_dns_timeout_seconds:g}s"
        ) from None
    if not body.secret:
        raise field_error("secret", "a webhook needs a signing secret of at least 16 characters")


def _contact(body: SubscriptionIn) -> str:
    """The e-mail address or phone number, normalised; 422 naming `target` when it is not one."""
    if body.channel == "email":
        if not EMAIL.match(body.target):
            raise field_error("target", "not an e-mail address")
        return body.target
    phone = body.target.replace(" ", "").replace("-", "")
    if not PHONE.match(phone):
        raise field_error("target", "not a phone number (digits, optional leading +)")
    return phone


async def _scope_for(rt: Rt, principal: Principal, body: SubscriptionIn) -> Scope:
    try:
        if body.scope is None:
            return default_scope(principal)
        wanted = Scope(body.scope.kind, body.scope.code if body.scope.kind != "all" else "")
        if wanted.kind != "all" and not wanted.code:
            raise field_error("scope.code", f"a {wanted.kind} scope needs a code")
        audience = await _case_audience(rt, wanted.code) if wanted.kind == "case" else None
        return check_scope(principal, wanted, case_audience=audience)
    except ScopeError as exc:
        raise ApiError(
            403, "forbidden", str(exc), fields=[{"field": "scope", "message": "outside your scope"}]
        ) from None


async def _target_allowance(rt: Rt, settings: NotifySettings, channel: str, target: str) -> str:
    """The target's hash, or 429 when it already got its codes for this hour (a stranger's phone is not flooded)."""
    secret = settings.token_secret.get_secret_value()
    target_hash = hash_target(secret, channel, target)
    now = rt.clock.now()
    sent = await store_confirm.codes_sent_since(rt.pool, target_hash=target_hash, since=now - HOUR)
    if sent >= settings.confirm_codes_per_target_per_hour:
        oldest = await store_confirm.oldest_send_since(rt.pool, target_hash=target_hash, since=now - HOUR)
        wait = ((oldest or now) + HOUR - now).total_seconds()
        raise too_many(
            f"this target already got {sent} confirmation codes in the last hour (at most "
            f"{settings.confirm_codes_per_target_per_hour}, LASTMETER_CONFIRM_CODES_PER_TARGET_PER_HOUR)",
            wait,
        )
    return target_hash


async def _send_new_code(
    rt: Rt, settings: NotifySettings, row: dict[str, object], *, target: str, target_hash: str
) -> None:
    """A fresh code for the subscription, stored hashed, sent to the target; 503 if it could not go."""
    code = generate_code()
    now = rt.clock.now()
    subscription_id = str(row["id"])
    await store_confirm.record_code(
        rt.pool,
        subscription_id=subscription_id,
        target_hash=target_hash,
        code_hash=hash_code(settings.token_secret.get_secret_value(), subscription_id, code),
        expires_at=now + timedelta(seconds=settings.confirm_code_ttl_seconds),
        now=now,
    )
    outcome = await send_code(
        settings=settings,
        pool=rt.pool,
        channel=str(row["channel"]),
        target=target,
        code=code,
        language=str(row["language"]),
        now=now,
    )
    if not outcome.ok:
        raise ApiError(
            503,
            "unavailable",
            f"the confirmation code could not be sent ({outcome.outcome}); try again shortly",
            fields=[{"field": "target", "message": "the code could not be sent"}],
        )


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut, summary="Subscribe within your scope")
async def create(body: SubscriptionIn, rt: Rt, principal: CurrentPrincipal) -> SubscriptionOut:
    settings = rt.settings
    if not principal.key_id:
        raise ApiError(403, "forbidden", "this credential cannot own subscriptions")
    if body.channel == "webhook":
        await _check_webhook(rt, settings, principal, body)
        target = body.target
    else:
        target = _contact(body)
    try:
        event_types = check_event_types(body.event_types)
    except FilterError as exc:
        raise field_error("event_types", str(exc)) from None
    scope = await _scope_for(rt, principal, body)
    target_hash = await _target_allowance(rt, settings, body.channel, target) if body.channel != "webhook" else ""
    limit = settings.subscriptions_per_admin_key if principal.role == "admin" else settings.subscriptions_per_key
    now = rt.clock.now()
    row, held = await store_confirm.create_within_quota(
        rt.pool,
        limit=limit,
        values={
            "id": f"sub_{uuid.uuid4().hex}",
            "owner_role": principal.role,
            "owner_scope": principal.scope,
            "owner_case": principal.case_id,
            "owner_name": principal.name,
            "owner_key_id": principal.key_id,
            "channel": body.channel,
            "target": target,
            "secret": body.secret if body.channel == "webhook" else None,
            "event_types": event_types,
            "scope_kind": scope.kind,
            "scope_code": scope.code,
            "language": body.language,
            "created_at": now,
            "description": body.description,
            # Staff chose the webhook URL and it is checked; contact details must confirm first.
            "confirmed_at": now if body.channel == "webhook" else None,
        },
    )
    if row is None:
        setting = (
            "LASTMETER_SUBSCRIPTIONS_PER_ADMIN_KEY" if principal.role == "admin" else "LASTMETER_SUBSCRIPTIONS_PER_KEY"
        )
        raise too_many(
            f"this key already holds {held} subscriptions, the limit of {limit} per key ({setting}); "
            "delete one (DELETE /v1/subscriptions/{id}) before adding another",
            60,
        )
    if body.channel != "webhook":
        try:
            await _send_new_code(rt, settings, dict(row), target=target, target_hash=target_hash)
        except ApiError:
            await store_delivery.deactivate_subscription(
                rt.pool, subscription_id=row["id"], reason="confirmation code could not be sent"
            )
            raise
    return to_out(dict(row))


@router.get("/subscriptions", response_model=list[SubscriptionOut], summary="Your key's subscriptions (admin: all)")
async def list_own(rt: Rt, principal: CurrentPrincipal) -> list[SubscriptionOut]:
    owner = None if principal.role == "admin" else (principal.key_id or "-")
    rows = await store_delivery.list_subscriptions(rt.pool, owner_key_id=owner)
    return [to_out(dict(r)) for r in rows]


async def owned(rt: Rt, principal: Principal, subscription_id: str) -> dict[str, object]:
    """The subscription if the caller's own key made it (admin: any); 404 otherwise, so ids do not leak."""
    row = await store_delivery.get_subscription(rt.pool, subscription_id=subscription_id)
    if (
        row is None
        or not row["active"]
        or (principal.role != "admin" and (not principal.key_id or row["owner_key_id"] != principal.key_id))
    ):
        raise ApiError(404, "not_found", f"no subscription {subscription_id}")
    return dict(row)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One of your subscriptions")
async def get_one(subscription_id: SubscriptionId, rt: Rt, principal: CurrentPrincipal) -> SubscriptionOut:
    return to_out(await owned(rt, principal, subscription_id))


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Unsubscribe")
async def delete(subscription_id: SubscriptionId, rt: Rt, principal: CurrentPrincipal) -> Response:
    await owned(rt, principal, subscription_id)
    await store_delivery.deactivate_subscription(rt.pool, subscription_id=subscription_id)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/confirm",
    response_model=SubscriptionOut,
    summary="Confirm an SMS or e-mail subscription with the code its target received",
)
async def confirm(
    subscription_id: SubscriptionId, body: ConfirmIn, rt: Rt, principal: CurrentPrincipal
) -> SubscriptionOut:
    settings = rt.settings
    await owned(rt, principal, subscription_id)
    now = rt.clock.now()
    async with rt.pool.acquire() as conn, conn.transaction():
        pending, sent_at = await store_confirm.pending_of(conn, subscription_id=subscription_id)
        verdict = check_code(
            pending,
            secret=settings.token_secret.get_secret_value(),
            subscription_id=subscription_id,
            code=body.code,
            now=now,
            max_attempts=settings.confirm_max_attempts,
        )
        attempts = pending.attempts
        if verdict == "wrong":
            attempts = await store_confirm.count_attempt(conn, subscription_id=subscription_id)
        row = (
            await store_confirm.confirm(conn, subscription_id=subscription_id, now=now)
            if verdict == "confirmed"
            else None
        )
    # Raised after the commit, so a wrong code counts even though the request fails.
    resend = f"ask for a new code: POST /v1/subscriptions/{subscription_id}/resend"
    if verdict == "already":
        raise ApiError(409, "conflict", "this subscription is already confirmed", state="confirmed")
    if verdict == "expired":
        raise ApiError(409, "conflict", f"the code expired or was never sent; {resend}", state="unconfirmed")
    if verdict == "exhausted":
        wait = RESEND_COOLDOWN_SECONDS - (now - (sent_at or now)).total_seconds()
        raise too_many(f"too many wrong codes (at most {settings.confirm_max_attempts}); {resend}", max(1.0, wait))
    if verdict == "wrong":
        left = max(0, settings.confirm_max_attempts - attempts)
        raise field_error("code", f"wrong code; {left} tries left" if left else f"wrong code; no tries left, {resend}")
    assert row is not None
    return to_out(dict(row))


@router.post(
    "/subscriptions/{subscription_id}/resend",
    status_code=202,
    response_model=SubscriptionOut,
    summary="Send a new confirmation code to an unconfirmed SMS or e-mail subscription",
)
async def resend(subscription_id: SubscriptionId, rt: Rt, principal: CurrentPrincipal) -> SubscriptionOut:
    settings = rt.settings
    row = await owned(rt, principal, subscription_id)
    if row["channel"] == "webhook" or row["confirmed_at"] is not None:
        raise ApiError(409, "conflict", "this subscription needs no code", state="confirmed")
    async with rt.pool.acquire() as conn:
        _, sent_at = await store_confirm.pending_of(conn, subscription_id=subscription_id)
    waited = (rt.clock.now() - sent_at).total_seconds() if sent_at else RESEND_COOLDOWN_SECONDS
    if waited < RESEND_COOLDOWN_SECONDS:
        raise too_many(
            f"a code was sent {int(waited)} s ago; wait a minute between codes", RESEND_COOLDOWN_SECONDS - waited
        )
    target = str(row["target"])
    target_hash = await _target_allowance(rt, settings, str(row["channel"]), target)
    await _send_new_code(rt, settings, row, target=target, target_hash=target_hash)
    return to_out(row)
