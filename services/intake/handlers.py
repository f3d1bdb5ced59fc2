"""Intake's reactions to other services' events: keep the resident-facing status, timeline and Open311 fields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TypeAlias

from services.intake.store import PgStatusStore, StatusStore
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
from shared.events.status import WORK_EVENTS, status_change
from shared.handlers import ConsumerSpec, HandlerContext, HandlerTable, handler_spec
from shared.topics import ROUTING_EVENTS, SLA_EVENTS

if TYPE_CHECKING:
    from services.intake.runtime import IntakeRuntime

# routing's work events (shared.events.status.WORK_EVENTS), as one type for the handler's signature.
WorkEvent: TypeAlias = (
    CaseRouted
    | CaseSigned
    | CaseDeclined
    | ArbitrationRequested
    | CaseProgressed
    | MemberAssigned
    | CaseAwaitingResident
    | CaseResumed
    | CaseResolved
    | CaseReopened
    | CaseClosed
)
KNOWN = "known"  # scratch key: the ids of the batch's cases that exist


@dataclass(frozen=True)
class StatusDeps:
    """What the status consumer's handlers need: the store and how long residents' tokens outlive a closed case."""

    store: StatusStore
    token_retention: timedelta

    @classmethod
    def of(cls, rt: IntakeRuntime) -> StatusDeps:
        return cls(
            store=PgStatusStore(auth_schema=rt.auth_schema), token_retention=rt.settings.resident_token_retention
        )


def _unknown(case_id: str) -> PoisonMessage:
    return PoisonMessage("unknown-case", f"intake has no case {case_id}")


async def on_work_event(ctx: HandlerContext[StatusDeps], envelope: CloudEvent, event: WorkEvent) -> None:
    """Move the status on (never backwards in event time) and add the step to the timeline; closing or
    reopening a case also sets or clears its reporters' token expiry."""
    change = status_change(event)
    if change is None:  # every work event has a change; kept for safety
        return
    store = ctx.deps.store
    applied = await store.apply_change(
        ctx.conn, case_id=event.case_id, change=change, now=ctx.clock.now(), event_id=envelope.id
    )
    if not applied:
        raise _unknown(event.case_id)
    if isinstance(event, CaseClosed | CaseReopened):
        # From the status as applied, not the event: a late, older event does not undo a newer one.
        current = await store.status_of(ctx.conn, case_id=event.case_id)
        if current is None:
            raise _unknown(event.case_id)
        status, status_at = current
        expires_at = status_at + ctx.deps.token_retention if status == "closed" else None
        await store.set_token_expiry(ctx.conn, case_id=event.case_id, expires_at=expires_at)


async def on_deadline_armed(ctx: HandlerContext[StatusDeps], envelope: CloudEvent, event: DeadlineArmed) -> None:
    """The resolution deadline is the Open311 expected_datetime; other deadlines only prove the case exists."""
    if event.kind != "resolution":
        if event.case_id not in ctx.scratch(KNOWN, set[str]):
            raise _unknown(event.case_id)
        return
    # Re-armed deadlines (pause, priority change) carry a newer envelope time: the newest wins.
    known = await ctx.deps.store.set_expected(
        ctx.conn, case_id=event.case_id, due_at=event.due_at, at=envelope.time, now=ctx.clock.now()
    )
    if not known:
        raise _unknown(event.case_id)


async def lock_batch_cases(ctx: HandlerContext[StatusDeps], events: Sequence[tuple[CloudEvent, EventData]]) -> None:
    """Lock every case the batch touches, in id order (no deadlock with a survey import's updates),
    and remember which exist."""
    known = await ctx.deps.store.lock_cases(ctx.conn, case_ids=[envelope.subject for envelope, _ in events])
    found = ctx.scratch(KNOWN, set[str])
    found.clear()
    found.update(known)


HANDLERS: HandlerTable[StatusDeps] = {
    **dict.fromkeys(WORK_EVENTS, on_work_event),
    DeadlineArmed: on_deadline_armed,
}


def consumers(rt: IntakeRuntime) -> list[ConsumerSpec[StatusDeps]]:
    """What intake consumes: routing's case events and sla's resolution deadlines."""
    return [
        handler_spec("status", [ROUTING_EVENTS, SLA_EVENTS], HANDLERS, deps=StatusDeps.of(rt), prepare=lock_batch_cases)
    ]
