"""The callback (回访) use case: each of a case's reporters answers each resolution round once.

How several reporters' answers count: one answer per round is *counted*: it decides reopen or
close and is the one FeedbackReceived carries to routing and into sla's rates (so a case counts
once in the satisfaction and resolution rates however many reported it). The counted answer is
the round's first answer from the reporter who opened the case or from the street office (an
answer taken by phone), or the first "not solved / dissatisfied" answer of a linked reporter.
A linked reporter cannot close someone else's case as satisfied: anyone can file a near-duplicate
to get a token, and closing is the direction that hides a problem, so their satisfied answer is
kept and shown (`counted: false`) and publishes nothing; their complaint reopens, since erring
towards more work for the assignee is the safe side. Later answers of a round are kept, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.intake import store
from services.intake.feedback.models import FeedbackIn
from services.intake.feedback.rules import STAFF_ROLES, is_counted, needs_reopen, open_round, timeline_note
from services.intake.needs.service_layer import STAFF_RESPONDENT
from services.intake.service_layer import SOURCE, Deps, IntakeUow
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import make_event
from shared.events.intake import FeedbackReceived
from shared.topics import INTAKE_EVENTS


@dataclass(frozen=True)
class Recorded:
    """What became of one answer: its round, whether the case goes back to work, whether it counted."""

    round: int
    reopen: bool
    counted: bool


async def _respondent(conn: store.Connection, *, case_id: str, principal: Principal) -> tuple[str, bool]:
    """Who answers (a reporter's submission id, or staff) and whether their satisfied answer may close the case.

    Forbidden for another case's token, a role that is not staff, or staff out of the case's scope.
    """
    if principal.case_id is not None:
        if principal.case_id != case_id or principal.submission_id is None:
            raise Forbidden("this access token opens another case")
        own = await store.get_own_submission(conn, submission_id=principal.submission_id)
        return principal.submission_id, own is not None and not own["linked"]
    if principal.role not in STAFF_ROLES:
        raise Forbidden("only the case's reporters (access token) or the street office may answer")
    row = await store.get_case(conn, case_id=case_id)
    if row is not None and not principal.can_see(case_id=case_id, street=row["street"]):
        raise Forbidden("this key may not answer for that case")
    return STAFF_RESPONDENT, True


async def answer_callback(
    uow: IntakeUow, *, deps: Deps, case_id: str, principal: Principal, answer: FeedbackIn
) -> Recorded:
    """Store one respondent's answer (and queue FeedbackReceived if it is the round's counted one) in
    one transaction. Forbidden / NotFound / Conflict when it cannot be taken."""
    now = deps.clock.now()
    async with uow.begin() as tx:
        conn = tx.conn
        respondent, may_close = await _respondent(conn, case_id=case_id, principal=principal)
        # The row lock orders concurrent answers to one case: exactly one is the round's first.
        row = await store.lock_for_feedback(conn, case_id=case_id)
        if row is None:
            raise NotFound(f"no case {case_id}")
        stored_round = row["resolved_round"]
        counted_already = (
            await store.round_counted(conn, case_id=case_id, round_=stored_round) if stored_round is not None else False
        )
        round_ = open_round(row["status"], stored_round, counted_already=counted_already)
        reopen = needs_reopen(answer)
        counted = is_counted(answer, may_close=may_close, counted_already=counted_already)
        fresh = await store.insert_feedback(
            conn,
            case_id=case_id,
            round_=round_,
            respondent=respondent,
            counted=counted,
            solved=answer.solved,
            satisfaction=answer.satisfaction,
            comment=answer.comment,
            reopen=reopen,
            at=now,
        )
        if not fresh:
            raise Conflict(f"callback round {round_} was already answered with this key", round=round_)
        if counted:
            event = FeedbackReceived(
                case_id=case_id,
                round=round_,
                solved=answer.solved,
                satisfaction=answer.satisfaction,
                comment=answer.comment,
                reopen=reopen,
                received_at=now,
            )
            await store.add_timeline(conn, case_id=case_id, at=now, status="feedback", note=timeline_note(answer))
            await tx.publish(INTAKE_EVENTS, make_event(event, source=SOURCE, subject=case_id, time=now))
    return Recorded(round_, reopen, counted)
