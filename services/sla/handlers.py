"""SLA's reactions to routing and intake events: clocks per the rules in `clocks`, counters for the rates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.sla import clocks, store
from services.sla.clocks import Change, Deadline
from services.sla.pending import PendingWrites
from services.sla.rates import SATISFIED, Counter
from services.sla.service_layer import SlaDeps, apply_changes, count, facts_of, write_pending
from shared.events import CloudEvent, PoisonMessage
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import (
    CaseAwaitingResident,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseResumed,
    CaseRouted,
    CaseSigned,
    PriorityChanged,
)
from shared.handlers import ConsumerSpec, HandlerContext, HandlerTable, handler_spec
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS

if TYPE_CHECKING:
    from services.sla.runtime import SlaRuntime

Ctx = HandlerContext[SlaDeps]
# The topics sla's consumer reads; the timer loop fires nothing these have not been read through.
INPUT_TOPICS = (ROUTING_EVENTS, INTAKE_EVENTS)


def _pending(ctx: Ctx) -> PendingWrites:
    return ctx.scratch("pending", PendingWrites)


async def _deadlines(ctx: Ctx, case_id: str) -> list[Deadline]:
    """The case's deadlines, including any this batch armed and has not written yet."""
    if _pending(ctx).holds(case_id):
        await flush(ctx)
    return await store.load_deadlines(ctx.conn, case_id=case_id)


async def flush(ctx: Ctx) -> None:
    """Write what the batch deferred: new deadlines with their timers, rate increments."""
    await write_pending(ctx.conn, ctx.deps, _pending(ctx))


async def _case(ctx: Ctx, case_id: str) -> store.Record:
    case = await store.lock_case(ctx.conn, case_id=case_id)
    if case is None:
        # Routing events of one case arrive in order, so a case sla never saw routed cannot be acted on.
        raise PoisonMessage("unknown-case", f"sla has no routed case {case_id!r}")
    return case


async def _commit(ctx: Ctx, envelope: CloudEvent, changes: Sequence[Change], street: str | None) -> None:
    events = await apply_changes(
        ctx.conn, ctx.deps, changes, street=street, trace_id=envelope.traceid, pending=_pending(ctx)
    )
    for event in events:
        await ctx.publish(SLA_EVENTS, event)


async def on_need_submitted(ctx: Ctx, envelope: CloudEvent, e: NeedSubmitted) -> None:
    """Keep the case's street, community and category for the rates."""
    await store.note_submitted(
        ctx.conn,
        case_id=e.case_id,
        street=e.street,
        community=e.community,
        category=e.category,
        priority=e.priority,
        submitted_at=e.submitted_at,
    )


async def on_routed(ctx: Ctx, envelope: CloudEvent, e: CaseRouted) -> None:
    """A response clock for this attempt; the round's feedback and resolution clocks armed once."""
    case = await store.note_routed(
        ctx.conn,
        case_id=e.case_id,
        street=e.street,
        community=e.community,
        category=e.category,
        priority=e.priority,
        sla_class=e.sla_class,
        submitted_at=e.submitted_at,
        attempt=e.attempt,
        assignee=e.assignee,
        co_handlers=e.co_handlers,
    )
    policies = ctx.deps.policies()
    known = case["has_deadlines"] or _pending(ctx).holds(e.case_id)
    changes = clocks.on_routed(
        await _deadlines(ctx, e.case_id) if known else [],
        case_id=e.case_id,
        round_=case["round"],
        round_started_at=case["round_started_at"] or e.submitted_at,
        attempt=e.attempt,
        assignee=e.assignee,
        cls=policies.for_case(case["sla_class"], case["priority"]),
        at=e.routed_at,
        paused_at=case["paused_at"],
        policies=policies,
    )
    await _commit(ctx, envelope, changes, e.street)
    if any(c.what == "armed" and c.deadline.kind == "response" for c in changes):
        count(_pending(ctx), ctx.deps, facts_of(case, e.assignee), at=e.routed_at, counts={"dispatched": 1})


async def on_signed(ctx: Ctx, envelope: CloudEvent, e: CaseSigned) -> None:
    """Sign-for stops the response clock; in time counts toward the response rate of its dispatch."""
    case = await _case(ctx, e.case_id)
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_signed(deadlines, attempt=e.attempt, at=e.signed_at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])
    for change in changes:
        if change.met:
            # Counted in the dispatch's own bucket, so the numerator never outgrows its denominator.
            facts = facts_of(case, change.deadline.assignee)
            count(_pending(ctx), ctx.deps, facts, at=change.deadline.started_at, counts={"signed_in_time": 1})


async def on_declined(ctx: Ctx, envelope: CloudEvent, e: CaseDeclined) -> None:
    """A decline ends that attempt's response clock; the resolution clock keeps running."""
    case = await _case(ctx, e.case_id)
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_declined(deadlines, attempt=e.attempt, at=e.declined_at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])


async def on_progressed(ctx: Ctx, envelope: CloudEvent, e: CaseProgressed) -> None:
    """The first progress report stops the first-feedback clock."""
    case = await _case(ctx, e.case_id)
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_progress(deadlines, round_=case["round"], at=e.at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])


async def on_awaiting(ctx: Ctx, envelope: CloudEvent, e: CaseAwaitingResident) -> None:
    """Waiting on the resident pauses every running clock."""
    case = await _case(ctx, e.case_id)
    if case["paused_at"] is not None:
        await store.update_case(ctx.conn, case_id=e.case_id, awaiting_since=e.at)
        return
    await store.update_case(ctx.conn, case_id=e.case_id, awaiting_since=e.at, paused_at=e.at)
    changes = clocks.on_paused(await _deadlines(ctx, e.case_id), at=e.at)
    await _commit(ctx, envelope, changes, case["street"])


async def on_resumed(ctx: Ctx, envelope: CloudEvent, e: CaseResumed) -> None:
    """The wait is over: paused clocks run again, pushed back by the pause."""
    case = await _case(ctx, e.case_id)
    await store.update_case(ctx.conn, case_id=e.case_id, awaiting_since=None, paused_at=None)
    if case["paused_at"] is None:
        return  # the street office had resumed the clocks already
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_resumed(deadlines, at=e.at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])


async def on_priority_changed(ctx: Ctx, envelope: CloudEvent, e: PriorityChanged) -> None:
    """A new priority recomputes every running clock under the class it maps to."""
    case = await _case(ctx, e.case_id)
    sla_class = e.sla_class or case["sla_class"]
    await store.update_case(ctx.conn, case_id=e.case_id, priority=e.priority, sla_class=sla_class)
    policies = ctx.deps.policies()
    cls = policies.for_case(sla_class, e.priority)
    deadlines = await _deadlines(ctx, e.case_id)
    await _commit(ctx, envelope, clocks.on_priority(deadlines, cls=cls, policies=policies), case["street"])


async def on_resolved(ctx: Ctx, envelope: CloudEvent, e: CaseResolved) -> None:
    """Resolving stops the round's resolution clock (and feedback / sign-for clocks still running)."""
    case = await _case(ctx, e.case_id)
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_resolved(deadlines, round_=case["round"], at=e.resolved_at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])


async def on_reopened(ctx: Ctx, envelope: CloudEvent, e: CaseReopened) -> None:
    """A reopen starts a new round with fresh feedback and resolution clocks."""
    case = await _case(ctx, e.case_id)
    if e.round <= case["round"]:
        return  # this round has begun already
    await store.update_case(
        ctx.conn,
        case_id=e.case_id,
        round=e.round,
        round_started_at=e.reopened_at,
        assignee_kind=e.assignee.kind,
        assignee_code=e.assignee.code,
        closed_at=None,
    )
    policies = ctx.deps.policies()
    changes = clocks.on_reopened(
        await _deadlines(ctx, e.case_id),
        case_id=e.case_id,
        round_=e.round,
        attempt=case["attempt"],
        assignee=e.assignee,
        cls=policies.for_case(case["sla_class"], case["priority"]),
        at=e.reopened_at,
        paused_at=case["paused_at"],
        policies=policies,
    )
    await _commit(ctx, envelope, changes, case["street"])


async def on_closed(ctx: Ctx, envelope: CloudEvent, e: CaseClosed) -> None:
    """Closing cancels what still runs and counts toward the resolution rate."""
    case = await _case(ctx, e.case_id)
    if case["closed_at"] is not None:
        return  # closed already: count a case once per close
    await store.update_case(ctx.conn, case_id=e.case_id, closed_at=e.closed_at)
    deadlines = await _deadlines(ctx, e.case_id)
    changes = clocks.on_closed(deadlines, at=e.closed_at, policies=ctx.deps.policies())
    await _commit(ctx, envelope, changes, case["street"])
    counts: dict[Counter, int] = {"closed": 1, "solved": int(e.solved)}
    count(_pending(ctx), ctx.deps, facts_of(case, e.assignee), at=e.closed_at, counts=counts)


async def on_feedback(ctx: Ctx, envelope: CloudEvent, e: FeedbackReceived) -> None:
    """A callback answer counts toward the satisfaction rate of whoever handled that round."""
    case = await store.get_case(ctx.conn, case_id=e.case_id)
    if case is None:
        ctx.log.warning("feedback for a case sla never saw; not counted")
        return
    counts: dict[Counter, int] = {"rated": 1, "satisfied": int(e.satisfaction in SATISFIED)}
    count(_pending(ctx), ctx.deps, facts_of(case, None), at=e.received_at, counts=counts)


HANDLERS: HandlerTable[SlaDeps] = {
    NeedSubmitted: on_need_submitted,
    FeedbackReceived: on_feedback,
    CaseRouted: on_routed,
    CaseSigned: on_signed,
    CaseDeclined: on_declined,
    CaseProgressed: on_progressed,
    CaseAwaitingResident: on_awaiting,
    CaseResumed: on_resumed,
    PriorityChanged: on_priority_changed,
    CaseResolved: on_resolved,
    CaseReopened: on_reopened,
    CaseClosed: on_closed,
}


def consumers(rt: SlaRuntime) -> list[ConsumerSpec[SlaDeps]]:
    """What sla consumes: every routing event that moves a clock, and intake's facts and feedback."""
    from services.sla.runtime import sla_deps  # runtime imports the timer loop, which imports this table's topics

    return [handler_spec("deadlines", INPUT_TOPICS, HANDLERS, deps=sla_deps(rt), flush=flush)]
