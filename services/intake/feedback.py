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

import asyncpg

from services.intake import store
from services.intake.models import FeedbackIn
from services.intake.service_layer import SOURCE, Deps
from shared.events import make_event
from shared.events.intake import FeedbackReceived
from shared.http import ApiError
from shared.topics import INTAKE_EVENTS


def needs_reopen(answer: FeedbackIn) -> bool:
    """Not solved or dissatisfied sends the case back to work."""
    return not answer.solved or answer.satisfaction == "dissatisfied"


async def record_feedback(
    *, pool: asyncpg.Pool, deps: Deps, case_id: str, respondent: str, may_close: bool, answer: FeedbackIn
) -> tuple[int, bool, bool]:
    """Store one respondent's answer (and queue FeedbackReceived if it is the round's counted one) in
    one transaction; returns (round, reopen, counted). `may_close`: the respondent opened the case or
    is staff, so a satisfied answer may close it. 404 / 409 when it cannot be taken."""
    now = deps.clock.now()
    async with pool.acquire() as conn, conn.transaction():
        # The row lock orders concurrent answers to one case: exactly one is the round's first.
        row = await store.lock_for_feedback(conn, case_id=case_id)
        if row is None:
            raise ApiError(404, "not_found", f"no case {case_id}")
        round_ = row["resolved_round"]
        counted_already = (
            await store.round_counted(conn, case_id=case_id, round_=round_) if round_ is not None else False
        )
        if round_ is None or not (row["status"] == "resolved" or (row["status"] == "closed" and counted_already)):
            raise ApiError(
                409,
                "conflict",
                f"the case is {row['status']}: the callback opens when the case is resolved",
                case_status=row["status"],
            )
        reopen = needs_reopen(answer)
        counted = not counted_already and (may_close or reopen)
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
            raise ApiError(409, "conflict", f"callback round {round_} was already answered with this key", round=round_)
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
            note = f"{answer.satisfaction}, {'solved' if answer.solved else 'not solved'}"
            await store.add_timeline(conn, case_id=case_id, at=now, status="feedback", note=note)
            await deps.outbox.add(conn, INTAKE_EVENTS, make_event(event, source=SOURCE, subject=case_id, time=now))
    return round_, reopen, counted
