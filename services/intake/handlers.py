"""Intake's reactions to other services' events: keep the resident-facing status, timeline and Open311 fields."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from services.intake import store
from services.intake.status import change_for
from shared.auth import set_case_token_expiry
from shared.consumer import ConsumerSpec, Handler, HandlerContext
from shared.events import CloudEvent, EventData, PoisonMessage
from shared.events.routing import (
    ArbitrationRequested,
    CaseAwaitingResident,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseResumed,
    CaseRouted,
    CaseSigned,
    MemberAssigned,
)
from shared.events.sla import DeadlineArmed
from shared.topics import ROUTING_EVENTS, SLA_EVENTS

STATUS_EVENTS: tuple[type[EventData], ...] = (
    CaseRouted,
    CaseSigned,
    CaseDeclined,
    ArbitrationRequested,
    CaseProgressed,
    MemberAssigned,
    CaseAwaitingResident,
    CaseResumed,
    CaseResolved,
    CaseReopened,
    CaseClosed,
)


def _unknown(case_id: str) -> PoisonMessage:
    return PoisonMessage("unknown-case", f"intake has no case {case_id}")


def status_handler(*, auth_schema: str, token_retention: timedelta) -> Handler:
    """The status handler; closing or reopening a case also sets or clears its reporters' token expiry."""

    async def on_status_event(ctx: HandlerContext, envelope: CloudEvent, event: Any) -> None:
        """Move the status on (never backwards in event time) and add the step to the timeline."""
        change = change_for(event)
        if change is None:  # every type registered below has a change; kept for safety
            return
        applied = await store.apply_change(
            ctx.conn, case_id=event.case_id, change=change, now=ctx.clock.now(), event_id=envelope.id
        )
        if not applied:
            raise _unknown(event.case_id)
        if isinstance(event, CaseClosed | CaseReopened):
            # From the status as applied, not the event: a late, older event does not undo a newer one.
            row = await ctx.conn.fetchrow("SELECT status, status_at FROM cases WHERE case_id = $1", event.case_id)
            closed = row["status"] == "closed"
            await set_case_token_expiry(
                ctx.conn,
                auth_schema=auth_schema,
                case_ids=[event.case_id],
                expires_at=row["status_at"] + token_retention if closed else None,
            )

    return on_status_event


async def lock_batch_cases(ctx: HandlerContext, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
    """Lock every case the batch touches, in id order (no deadlock with a survey import's updates),
    and remember which exist."""
    ctx.batch["known"] = await store.lock_cases(ctx.conn, case_ids=[envelope.subject for envelope, _ in events])


async def on_deadline_armed(ctx: HandlerContext, envelope: CloudEvent, event: DeadlineArmed) -> None:
    """The resolution deadline is the Open311 expected_datetime; other deadlines only prove the case exists."""
    if event.kind != "resolution":
        if event.case_id not in ctx.batch["known"]:
            raise _unknown(event.case_id)
        return
    # Re-armed deadlines (pause, priority change) carry a newer envelope time: the newest wins.
    known = await store.set_expected(
        ctx.conn, case_id=event.case_id, due_at=event.due_at, at=envelope.time, now=ctx.clock.now()
    )
    if not known:
        raise _unknown(event.case_id)


def consumers(*, auth_schema: str, token_retention: timedelta) -> list[ConsumerSpec]:
    """What intake consumes: routing's case events and sla's resolution deadlines."""
    on_status_event = status_handler(auth_schema=auth_schema, token_retention=token_retention)
    handlers: dict[type[EventData], Handler] = {model: on_status_event for model in STATUS_EVENTS}
    handlers[DeadlineArmed] = on_deadline_armed
    return [
        ConsumerSpec(name="status", topics=[ROUTING_EVENTS, SLA_EVENTS], handlers=handlers, prepare=lock_batch_cases)
    ]
