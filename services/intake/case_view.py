"""`GET /v1/cases/{id}`: a case as its caller may see it — staff in scope see the case, a reporter their own view.

A resident's access token belongs to one submission. Its view is that reporter's own report (their
words, place and contact; for a linked duplicate those of the linked report, never the first
reporter's) with the case's public status, notes and timeline, and only their own callback answers.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from services.intake import store
from services.intake.models import CaseView, FeedbackView, TimelineEntry
from shared.auth import Principal
from shared.events import Assignee, Location
from shared.events.intake import Classification
from shared.events.status import open311_status
from shared.http import ApiError

STAFF_RESPONDENT = "staff"
_FEEDBACK_FIELDS = ("round", "solved", "satisfaction", "comment", "reopen", "received_at", "counted")


def _classification(value: Any) -> Classification | None:
    if value is None:
        return None
    return Classification.model_validate(orjson.loads(value) if isinstance(value, str | bytes) else value)


def _contact(value: Any) -> dict[str, str] | None:
    contact = orjson.loads(value) if isinstance(value, str | bytes) else value
    return contact or None


def _location(lat: float | None, lon: float | None) -> Location | None:
    return Location(lat=lat, lon=lon) if lat is not None and lon is not None else None


def callback_open_to(status: str, round_: int | None, *, answered: bool, counted: bool) -> int | None:
    """The callback round this respondent may still answer, if any.

    While the case is resolved the round is open to each reporter once; after the first (counted)
    answer closed the case, later reporters may still add theirs (kept, not counted).
    """
    if round_ is None or answered:
        return None
    if status == "resolved" or (status == "closed" and counted):
        return round_
    return None


async def case_view(pool: asyncpg.Pool, *, case_id: str, principal: Principal) -> CaseView:
    """The case for this caller; 404 unknown, 403 out of scope."""
    row = await store.get_case(pool, case_id=case_id)
    if row is None:
        raise ApiError(404, "not_found", f"no case {case_id}")
    assignee = Assignee(kind=row["assignee_kind"], code=row["assignee_code"]) if row["assignee_kind"] else None
    if not principal.can_see(
        case_id=case_id,
        street=row["street"],
        department=assignee.code if assignee and assignee.kind == "department" else None,
        team=assignee.code if assignee and assignee.kind == "team" else None,
    ):
        raise ApiError(403, "forbidden", "this key may not read that case")
    own: dict[str, Any] = dict(row)
    respondent: str | None = None
    contact: dict[str, str] | None = None
    if principal.case_id is not None:
        submission = (
            await store.get_own_submission(pool, submission_id=principal.submission_id)
            if principal.submission_id
            else None
        )
        if submission is None or submission["case_id"] != case_id:
            raise ApiError(403, "forbidden", "this access token opens another case")
        respondent = submission["submission_id"]
        contact = _contact(submission["contact"])
        if submission["linked"]:
            for name in ("description", "address", "lat", "lon", "grid", "vulnerable", "reporter_kind"):
                own[name] = submission[name]
            own["classification"] = None  # how the first report's text was classified
    elif principal.role != "resident":
        contact = _contact(row["contact"])
    timeline = await store.get_timeline(pool, case_id=case_id)
    answers = await store.get_feedback(pool, case_id=case_id, respondent=respondent)
    round_ = row["resolved_round"]
    counted = await store.round_counted(pool, case_id=case_id, round_=round_) if round_ is not None else False
    mine = respondent or STAFF_RESPONDENT
    answered = any(a["round"] == round_ and a["respondent"] == mine for a in answers)
    if respondent is None:  # staff see a round as awaiting until someone answers it
        answered = counted
    return CaseView(
        case_id=row["case_id"],
        status=row["status"],
        open311_status=open311_status(row["status"]),
        category=row["category"],
        classification=_classification(own["classification"]),
        description=own["description"] or "",
        community=row["community"],
        street=row["street"],
        grid=own["grid"],
        location=_location(own["lat"], own["lon"]),
        address=own["address"],
        priority=row["priority"],
        vulnerable=bool(own["vulnerable"]),
        reporter_kind=own["reporter_kind"],
        reporter_count=row["reporter_count"],
        assigned_to=assignee,
        status_notes=row["status_note"],
        expected_at=row["expected_at"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        feedback_round=callback_open_to(row["status"], round_, answered=answered, counted=counted),
        feedback=[FeedbackView(**{k: a[k] for k in _FEEDBACK_FIELDS}) for a in answers],
        timeline=[TimelineEntry(at=t["at"], status=t["status"], note=t["note"], actor=t["actor"]) for t in timeline],
        contact=contact,
    )
