"""The callback (回访) use case: one answer per resolution round, published for routing to reopen or close."""

from __future__ import annotations

import asyncpg

from services.intake import store, store_links
from services.intake.models import FeedbackIn
from services.intake.service_layer import SOURCE, Deps
from shared.events import make_event
from shared.events.intake import FeedbackReceived
from shared.http import ApiError
from shared.topics import INTAKE_EVENTS


def needs_reopen(answer: FeedbackIn) -> bool:
    """Not solved or dissatisfied sends the case back to work."""
    return not answer.solved or answer.satisfaction == "dissatisfied"


async def record_feedback(*, pool: asyncpg.Pool, deps: Deps, case_id: str, answer: FeedbackIn) -> FeedbackReceived:
    """Store the answer and queue FeedbackReceived in one transaction; 404 / 409 when it cannot be taken."""
    now = deps.clock.now()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT status, resolved_round FROM cases WHERE case_id = $1 FOR UPDATE", case_id)
        if row is None:
            raise ApiError(404, "not_found", f"no case {case_id}")
        if row["status"] != "resolved" or row["resolved_round"] is None:
            raise ApiError(
                409,
                "conflict",
                f"the case is {row['status']}: the callback opens when the case is resolved",
                case_status=row["status"],
            )
        round_ = row["resolved_round"]
        reopen = needs_reopen(answer)
        fresh = await store_links.insert_feedback(
            conn,
            case_id=case_id,
            round_=round_,
            solved=answer.solved,
            satisfaction=answer.satisfaction,
            comment=answer.comment,
            reopen=reopen,
            at=now,
        )
        if not fresh:
            raise ApiError(409, "conflict", f"callback round {round_} was already answered", round=round_)
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
    return event
