"""The reporter's callback (回访) route."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.deps import JsonBody, Rt, deps_of, uow_of
from services.intake.feedback.models import FeedbackAccepted, FeedbackIn
from services.intake.feedback.service_layer import answer_callback
from shared.http import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post(
    "/cases/{case_id}/feedback",
    status_code=201,
    response_model=FeedbackAccepted,
    summary="Answer the callback after resolution: solved? satisfied? (each reporter once per round)",
)
async def post_feedback(
    case_id: str, body: FeedbackIn, rt: Rt, principal: CurrentPrincipal, _: JsonBody
) -> FeedbackAccepted:
    recorded = await answer_callback(uow_of(rt), deps=deps_of(rt), case_id=case_id, principal=principal, answer=body)
    return FeedbackAccepted(case_id=case_id, round=recorded.round, reopen=recorded.reopen, counted=recorded.counted)
