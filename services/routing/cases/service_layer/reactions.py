"""What routing does with intake's events: route a submitted need; close or reopen a case on the callback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.routing.cases import rules, store, workflow
from services.routing.cases.service_layer import dispatch
from services.routing.cases.service_layer.dispatch import Tx
from services.routing.cases.store import Case, NewCase
from shared.events import PoisonMessage
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import CaseClosed, CaseReopened


@dataclass
class RoutingBatch:
    """One consumer transaction's new cases (recorded up front) and decisions (written at the end)."""

    new_cases: dict[str, Case] = field(default_factory=dict)
    assignments: list[store.Assignment] = field(default_factory=list)


async def record_new_cases(tx: Tx, batch: RoutingBatch, needs: Sequence[NeedSubmitted]) -> None:
    """Record every new case of the batch in one statement."""
    rows = [NewCase(need.case_id, need.model_dump(mode="json"), need.submitted_at) for need in needs]
    batch.new_cases.update(await tx.store.insert_cases(tx.conn, rows, now=tx.now))


async def write_decisions(tx: Tx, batch: RoutingBatch) -> None:
    """Write the batch's routing decisions in one statement."""
    await tx.store.record_assignments(tx.conn, batch.assignments, now=tx.now)
    batch.assignments.clear()


async def route_need(tx: Tx, batch: RoutingBatch, need: NeedSubmitted) -> rules.Decision | None:
    """Decide who acts and queue `case routed`; None when the case was routed already."""
    if tx.catalogue.street(need.street) is None:
        raise PoisonMessage("unknown-street", f"street {need.street!r} is not in catalogue v{tx.catalogue.version}")
    case = batch.new_cases.pop(need.case_id, None)
    if case is None:
        return None  # the same case arrived under another event id; it is routed already
    decision = await dispatch.choose(tx, case_id=case.case_id, facts=dispatch.facts_of(case), exclude=())
    # (decided_by "triage" is kept for the street office's triage)
    await dispatch.assign(tx, case, decision, deferred=batch.assignments)
    return decision


@dataclass(frozen=True)
class FeedbackApplied:
    """What the resident's callback did to the case (`stale`: nothing, it was acted on already)."""

    outcome: workflow.FeedbackOutcome
    status: str
    round: int


async def apply_feedback(tx: Tx, batch: RoutingBatch, feedback: FeedbackReceived) -> FeedbackApplied:
    """Dissatisfied or unsolved: back to the last assignee, escalated; otherwise the case is closed."""
    await write_decisions(tx, batch)  # a decision this batch made about the case must be in the row read next
    case = await tx.store.get_case(tx.conn, case_id=feedback.case_id, for_update=True)
    if case is None:
        raise PoisonMessage("unknown-case", f"routing has no case {feedback.case_id}")
    outcome = workflow.feedback_outcome(
        case_id=case.case_id,
        status=case.status,
        round_=case.round,
        assignee=case.assignee,
        feedback_round=feedback.round,
        reopen=feedback.reopen,
    )
    if outcome == "stale":
        return FeedbackApplied(outcome, case.status, case.round)
    verdict = f"solved={'yes' if feedback.solved else 'no'}, {feedback.satisfaction}"
    note = f"{verdict}: {feedback.comment}" if feedback.comment else verdict
    await tx.store.add_step(
        tx.conn, case_id=case.case_id, round_=case.round, action="feedback", actor="resident", note=note, at=tx.now
    )
    if outcome == "close":
        await _close(tx, case, solved=feedback.solved)
        return FeedbackApplied(outcome, "closed", case.round)
    new_round = await _reopen(tx, case, reason=f"resident's callback (回访) round {feedback.round}: {note}")
    return FeedbackApplied(outcome, "reopened", new_round)


async def _close(tx: Tx, case: Case, *, solved: bool) -> None:
    await tx.store.set_status(tx.conn, case_id=case.case_id, status="closed", now=tx.now, closed_at=tx.now)
    await tx.publish(
        case.case_id, CaseClosed(case_id=case.case_id, assignee=case.assignee, solved=solved, closed_at=tx.now)
    )


async def _reopen(tx: Tx, case: Case, *, reason: str) -> int:
    """Back to the last assignee, escalated; returns the new round."""
    assignee = case.assignee
    assert assignee is not None  # feedback_outcome says "reopen" only for a case with an assignee
    if assignee.kind == "team":
        # The team already owned this work: the reopened case returns to it even at capacity.
        await tx.store.take_team_slot(tx.conn, case_id=case.case_id, team=assignee.code, capacity=0, force=True)
    new_round = case.round + 1
    await tx.store.set_status(tx.conn, case_id=case.case_id, status="reopened", now=tx.now, round=new_round)
    reopened = CaseReopened(
        case_id=case.case_id,
        assignee=assignee,
        round=new_round,
        reason=reason[:1000],
        escalated=True,
        reopened_at=tx.now,
    )
    await tx.publish(case.case_id, reopened)
    return new_round
