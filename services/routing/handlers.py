"""Routing's reactions: a submitted need gets an assignee; the resident's feedback closes or reopens a case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.routing import dispatch, store
from services.routing.dispatch import Tx
from services.routing.store import Case, NewCase
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, EventData, PoisonMessage
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import CaseClosed, CaseReopened
from shared.service import ServiceRuntime
from shared.topics import INTAKE_EVENTS


@dataclass
class RoutingBatch:
    """One consumer transaction's new cases (recorded up front) and decisions (written at the end)."""

    new_cases: dict[str, Case] = field(default_factory=dict)
    assignments: list[store.Assignment] = field(default_factory=list)


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """What routing consumes (one consumer, so a case's need and feedback stay in order)."""

    def tx_of(ctx: HandlerContext, envelope: CloudEvent) -> Tx:
        return Tx(
            conn=ctx.conn,
            outbox=ctx.outbox,
            catalogue=rt.catalogue,
            now=ctx.clock.now(),
            trace_id=envelope.traceid or envelope.id,
        )

    def batch_of(ctx: HandlerContext) -> RoutingBatch:
        return ctx.scratch("routing", RoutingBatch)

    async def prepare(ctx: HandlerContext, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
        """Record every new case of the batch in one statement."""
        needs = [
            NewCase(need.case_id, need.model_dump(mode="json"), need.submitted_at)
            for _, need in events
            if isinstance(need, NeedSubmitted)
        ]
        batch_of(ctx).new_cases.update(await store.insert_cases(ctx.conn, needs, now=ctx.clock.now()))

    async def flush(ctx: HandlerContext) -> None:
        """Write the batch's routing decisions in one statement."""
        work = batch_of(ctx)
        await store.record_assignments(ctx.conn, work.assignments, now=ctx.clock.now())
        work.assignments.clear()

    async def on_need_submitted(ctx: HandlerContext, envelope: CloudEvent, need: NeedSubmitted) -> None:
        """Decide who acts and publish `case routed`."""
        tx = tx_of(ctx, envelope)
        if tx.catalogue.street(need.street) is None:
            raise PoisonMessage("unknown-street", f"street {need.street!r} is not in catalogue v{tx.catalogue.version}")
        work = batch_of(ctx)
        case = work.new_cases.pop(need.case_id, None)
        if case is None:
            return  # the same case arrived under another event id; it is routed already
        decision = await dispatch.choose(tx, case_id=case.case_id, facts=dispatch.facts_of(case), exclude=())
        # (decided_by "triage" is kept for the street office's triage)
        await dispatch.assign(tx, case, decision, deferred=work.assignments)
        ctx.log.info("case routed", assignee=f"{decision.assignee.kind}:{decision.assignee.code}", rule=decision.rule)

    async def on_feedback(ctx: HandlerContext, envelope: CloudEvent, feedback: FeedbackReceived) -> None:
        """Dissatisfied or unsolved: back to the last assignee, escalated; otherwise the case is closed."""
        tx = tx_of(ctx, envelope)
        await flush(ctx)  # a decision this batch made about the case must be in the row read next
        case = await store.get_case(ctx.conn, case_id=feedback.case_id, for_update=True)
        if case is None:
            raise PoisonMessage("unknown-case", f"routing has no case {feedback.case_id}")
        if feedback.round < case.round or case.status == "closed":
            ctx.log.info("stale feedback ignored", round=feedback.round, status=case.status)
            return  # an answer for an earlier round, or a repeated one: already acted on
        if case.status != "resolved" or feedback.round > case.round:
            raise PoisonMessage(
                "wrong-state", f"feedback round {feedback.round} for case {case.case_id} which is {case.status}"
            )
        assignee = case.assignee
        verdict = f"solved={'yes' if feedback.solved else 'no'}, {feedback.satisfaction}"
        note = f"{verdict}: {feedback.comment}" if feedback.comment else verdict
        await store.add_step(
            ctx.conn, case_id=case.case_id, round_=case.round, action="feedback", actor="resident", note=note, at=tx.now
        )
        if not feedback.reopen:
            await store.set_status(ctx.conn, case_id=case.case_id, status="closed", now=tx.now, closed_at=tx.now)
            await tx.publish(
                case.case_id,
                CaseClosed(case_id=case.case_id, assignee=assignee, solved=feedback.solved, closed_at=tx.now),
            )
            return
        if assignee is None:
            raise PoisonMessage("wrong-state", f"case {case.case_id} has no assignee to reopen to")
        if assignee.kind == "team":
            # The team already owned this work: the reopened case returns to it even at capacity.
            await store.take_team_slot(ctx.conn, case_id=case.case_id, team=assignee.code, capacity=0, force=True)
        new_round = case.round + 1
        await store.set_status(ctx.conn, case_id=case.case_id, status="reopened", now=tx.now, round=new_round)
        reopened = CaseReopened(
            case_id=case.case_id,
            assignee=assignee,
            round=new_round,
            reason=f"resident's callback (回访) round {feedback.round}: {note}"[:1000],
            escalated=True,
            reopened_at=tx.now,
        )
        await tx.publish(case.case_id, reopened)

    return [
        ConsumerSpec(
            name="decide",
            topics=[INTAKE_EVENTS],
            handlers={NeedSubmitted: on_need_submitted, FeedbackReceived: on_feedback},
            prepare=prepare,
            flush=flush,
        )
    ]
