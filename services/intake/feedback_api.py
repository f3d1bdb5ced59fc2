"""The resident's callback (回访) route."""

from __future__ import annotations

from fastapi import APIRouter

from services.intake import store
from services.intake.api import JsonBody
from services.intake.case_view import STAFF_RESPONDENT
from services.intake.deps import Rt, deps_of
from services.intake.feedback import record_feedback
from services.intake.models import FeedbackAccepted, FeedbackIn
from shared.http import ApiError, CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["feedback"])
# Street office and admin staff may enter an answer taken by phone (the usual 回访 in practice).
STAFF_ROLES = frozenset({"street_office", "admin"})


@router.post(
    "/cases/{case_id}/feedback",
    status_code=201,
    response_model=FeedbackAccepted,
    summary="Answer the callback after resolution: solved? satisfied? (each reporter once per round)",
)
async def post_feedback(
    case_id: str, body: FeedbackIn, rt: Rt, principal: CurrentPrincipal, _: JsonBody
) -> FeedbackAccepted:
    if principal.case_id is not None:
        if principal.case_id != case_id or principal.submission_id is None:
            raise ApiError(403, "forbidden", "this access token opens another case")
        respondent = principal.submission_id
        own = await store.get_own_submission(rt.pool, submission_id=respondent)
        may_close = own is not None and not own["linked"]
    elif principal.role not in STAFF_ROLES:
        raise ApiError(403, "forbidden", "only the case's reporters (access token) or the street office may answer")
    else:
        row = await store.get_case(rt.pool, case_id=case_id)
        if row is not None and not principal.can_see(case_id=case_id, street=row["street"]):
            raise ApiError(403, "forbidden", "this key may not answer for that case")
        respondent = STAFF_RESPONDENT
        may_close = True
    round_, reopen, counted = await record_feedback(
        pool=rt.pool, deps=deps_of(rt), case_id=case_id, respondent=respondent, may_close=may_close, answer=body
    )
    return FeedbackAccepted(case_id=case_id, round=round_, reopen=reopen, counted=counted)
