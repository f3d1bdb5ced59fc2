"""Subscription use cases: create within scope and quota, confirm with a code, resend, list, stop.

They raise shared.errors; the one transaction (confirming a code) opens here. Sending a code
happens outside any transaction: a slow mail server must not hold a database connection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.notify.audience import Audience, audience_for
from services.notify.channels import ChannelEnv, channel_of
from services.notify.code_sender import send_code
from services.notify.confirmation import RESEND_COOLDOWN_SECONDS, check_code, generate_code, hash_code, hash_target
from services.notify.settings import NotifySettings
from services.notify.store import cases as store
from services.notify.store import confirm as store_confirm
from services.notify.store import deliveries as store_delivery
from services.notify.store.deliveries import Pool
from services.notify.subscriptions.models import SubscriptionIn
from services.notify.subscriptions.rules import (
    FilterError,
    Scope,
    ScopeError,
    check_event_types,
    check_scope,
    default_scope,
)
from shared.auth import Principal
from shared.clock import Clock
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, RateLimited
from shared.uow import PgUnitOfWork

HOUR = timedelta(hours=1)
Row = dict[str, Any]


class CodeNotSent(DomainError):
    """The confirmation code could not go out (the API answers 503: try again shortly)."""

    default_code = "unavailable"


@dataclass(frozen=True)
class SubscriptionDeps:
    """What the use cases need: the pool (single statements), the unit of work, settings, clock, channels."""

    pool: Pool
    uow: PgUnitOfWork[Any]
    settings: NotifySettings
    clock: Clock
    env: ChannelEnv


def too_many(message: str, retry_after: float) -> RateLimited:
    """429 with `Retry-After` in whole seconds."""
    return RateLimited(message, retry_after=max(1, int(retry_after + 0.999)))


async def _case_audience(deps: SubscriptionDeps, case_id: str) -> Audience | None:
    state = await store.load_case(deps.pool, case_id=case_id)
    if state is None:
        return None
    submissions = await store.submissions_of(deps.pool, case_id=case_id)
    return audience_for(before=state, after=state, payload=None, submission_ids=submissions)


async def _scope_for(deps: SubscriptionDeps, principal: Principal, body: SubscriptionIn) -> Scope:
    try:
        if body.scope is None:
            return default_scope(principal)
        wanted = Scope(body.scope.kind, body.scope.code if body.scope.kind != "all" else "")
        if wanted.kind != "all" and not wanted.code:
            raise InvalidInput("scope.code", f"a {wanted.kind} scope needs a code")
        audience = await _case_audience(deps, wanted.code) if wanted.kind == "case" else None
        return check_scope(principal, wanted, case_audience=audience)
    except ScopeError as exc:
        raise Forbidden(str(exc), fields=[{"field": "scope", "message": "outside your scope"}]) from None


async def _target_allowance(deps: SubscriptionDeps, channel: str, target: str) -> str:
    """The target's hash, or 429 when it already got its codes for this hour (a stranger's phone is not flooded)."""
    settings = deps.settings
    target_hash = hash_target(settings.token_secret.get_secret_value(), channel, target)
    now = deps.clock.now()
    sent = await store_confirm.codes_sent_since(deps.pool, target_hash=target_hash, since=now - HOUR)
    if sent >= settings.confirm_codes_per_target_per_hour:
        oldest = await store_confirm.oldest_send_since(deps.pool, target_hash=target_hash, since=now - HOUR)
        wait = ((oldest or now) + HOUR - now).total_seconds()
        raise too_many(
            f"this target already got {sent} confirmation codes in the last hour (at most "
            f"{settings.confirm_codes_per_target_per_hour}, LASTMETER_CONFIRM_CODES_PER_TARGET_PER_HOUR)",
            wait,
        )
    return target_hash


async def _send_new_code(deps: SubscriptionDeps, row: Row, *, target: str, target_hash: str) -> None:
    """A fresh code for the subscription, stored hashed, sent to the target; CodeNotSent if it could not go."""
    settings = deps.settings
    code = generate_code()
    now = deps.clock.now()
    subscription_id = str(row["id"])
    await store_confirm.record_code(
        deps.pool,
        subscription_id=subscription_id,
        target_hash=target_hash,
        code_hash=hash_code(settings.token_secret.get_secret_value(), subscription_id, code),
        expires_at=now + timedelta(seconds=settings.confirm_code_ttl_seconds),
        now=now,
    )
    outcome = await send_code(
        env=deps.env,
        channel=str(row["channel"]),
        subscription_id=subscription_id,
        target=target,
        code=code,
        language=str(row["language"]),
    )
    if not outcome.ok:
        raise CodeNotSent(
            f"the confirmation code could not be sent ({outcome.outcome}); try again shortly",
            fields=[{"field": "target", "message": "the code could not be sent"}],
        )


async def create(deps: SubscriptionDeps, *, principal: Principal, body: SubscriptionIn) -> Row:
    """A new subscription within the caller's scope and quota; a contact target gets its code."""
    settings = deps.settings
    if not principal.key_id:
        raise Forbidden("this credential cannot own subscriptions")
    channel = channel_of(body.channel)
    target = await channel.validate_target(body.target, principal=principal, secret=body.secret, env=deps.env)
    try:
        event_types = check_event_types(body.event_types)
    except FilterError as exc:
        raise InvalidInput("event_types", str(exc)) from None
    scope = await _scope_for(deps, principal, body)
    target_hash = await _target_allowance(deps, channel.name, target) if channel.confirms else ""
    limit = settings.subscriptions_per_admin_key if principal.role == "admin" else settings.subscriptions_per_key
    now = deps.clock.now()
    row, held = await store_confirm.create_within_quota(
        deps.pool,
        limit=limit,
        values={
            "id": f"sub_{uuid.uuid4().hex}",
            "owner_role": principal.role,
            "owner_scope": principal.scope,
            "owner_case": principal.case_id,
            "owner_name": principal.name,
            "owner_key_id": principal.key_id,
            "channel": channel.name,
            "target": target,
            "secret": body.secret if channel.signs else None,
            "event_types": event_types,
            "scope_kind": scope.kind,
            "scope_code": scope.code,
            "language": body.language,
            "created_at": now,
            "description": body.description,
            # Staff chose the webhook URL and it is checked; contact details must confirm first.
            "confirmed_at": None if channel.confirms else now,
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
    if channel.confirms:
        try:
            await _send_new_code(deps, dict(row), target=target, target_hash=target_hash)
        except CodeNotSent:
            await store_delivery.deactivate_subscription(
                deps.pool, subscription_id=row["id"], reason="confirmation code could not be sent"
            )
            raise
    return dict(row)


async def list_own(deps: SubscriptionDeps, *, principal: Principal) -> list[Row]:
    """The caller's key's subscriptions (admin: all)."""
    owner = None if principal.role == "admin" else (principal.key_id or "-")
    return [dict(r) for r in await store_delivery.list_subscriptions(deps.pool, owner_key_id=owner)]


async def owned(deps: SubscriptionDeps, *, principal: Principal, subscription_id: str) -> Row:
    """The subscription if the caller's own key made it (admin: any); NotFound otherwise, so ids do not leak."""
    row = await store_delivery.get_subscription(deps.pool, subscription_id=subscription_id)
    if (
        row is None
        or not row["active"]
        or (principal.role != "admin" and (not principal.key_id or row["owner_key_id"] != principal.key_id))
    ):
        raise NotFound(f"no subscription {subscription_id}")
    return dict(row)


async def stop(deps: SubscriptionDeps, *, principal: Principal, subscription_id: str) -> None:
    """Unsubscribe."""
    await owned(deps, principal=principal, subscription_id=subscription_id)
    await store_delivery.deactivate_subscription(deps.pool, subscription_id=subscription_id)


async def confirm(deps: SubscriptionDeps, *, principal: Principal, subscription_id: str, code: str) -> Row:
    """Confirm with the code the target received; a wrong code counts even though the request fails."""
    settings = deps.settings
    await owned(deps, principal=principal, subscription_id=subscription_id)
    now = deps.clock.now()
    async with deps.uow.begin() as tx:
        pending, sent_at = await store_confirm.pending_of(tx.conn, subscription_id=subscription_id)
        verdict = check_code(
            pending,
            secret=settings.token_secret.get_secret_value(),
            subscription_id=subscription_id,
            code=code,
            now=now,
            max_attempts=settings.confirm_max_attempts,
        )
        attempts = pending.attempts
        if verdict == "wrong":
            attempts = await store_confirm.count_attempt(tx.conn, subscription_id=subscription_id)
        row = (
            await store_confirm.confirm(tx.conn, subscription_id=subscription_id, now=now)
            if verdict == "confirmed"
            else None
        )
    # Raised after the commit, so a wrong code counts even though the request fails.
    resend = f"ask for a new code: POST /v1/subscriptions/{subscription_id}/resend"
    if verdict == "already":
        raise Conflict("this subscription is already confirmed", state="confirmed")
    if verdict == "expired":
        raise Conflict(f"the code expired or was never sent; {resend}", state="unconfirmed")
    if verdict == "exhausted":
        wait = RESEND_COOLDOWN_SECONDS - (now - (sent_at or now)).total_seconds()
        raise too_many(f"too many wrong codes (at most {settings.confirm_max_attempts}); {resend}", max(1.0, wait))
    if verdict == "wrong":
        left = max(0, settings.confirm_max_attempts - attempts)
        raise InvalidInput("code", f"wrong code; {left} tries left" if left else f"wrong code; no tries left, {resend}")
    if row is None:
        raise RuntimeError(f"check_code answered {verdict!r}, which this use case does not know")
    return dict(row)


async def resend(deps: SubscriptionDeps, *, principal: Principal, subscription_id: str) -> Row:
    """A new code for an unconfirmed contact subscription, at most one a minute."""
    row = await owned(deps, principal=principal, subscription_id=subscription_id)
    if not channel_of(str(row["channel"])).confirms or row["confirmed_at"] is not None:
        raise Conflict("this subscription needs no code", state="confirmed")
    _, sent_at = await store_confirm.pending_of(deps.pool, subscription_id=subscription_id)
    waited = (deps.clock.now() - sent_at).total_seconds() if sent_at else RESEND_COOLDOWN_SECONDS
    if waited < RESEND_COOLDOWN_SECONDS:
        raise too_many(
            f"a code was sent {int(waited)} s ago; wait a minute between codes", RESEND_COOLDOWN_SECONDS - waited
        )
    target = str(row["target"])
    target_hash = await _target_allowance(deps, str(row["channel"]), target)
    await _send_new_code(deps, row, target=target, target_hash=target_hash)
    return row
