"""The native API's use cases: submit a need (idempotency, one transaction, the response body) and read a case back.

A resident's access token belongs to one submission. Its view of the case is that reporter's own
report (their words, place and contact; for a linked duplicate those of the linked report, never
the first reporter's) with the case's public status, notes and timeline, and only their own
callback answers; staff in scope see the case.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.intake import store
from services.intake.need import Need
from services.intake.needs.group_commit import SubmissionGroups
from services.intake.needs.models import CaseView, FeedbackView, TimelineEntry
from services.intake.service_layer import Deps, IntakeUow, Outcome, accept_one
from shared.auth import Principal, rotate_resident_token
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import Assignee, Location
from shared.events.intake import Classification
from shared.events.status import open311_status

IDEMPOTENCY_SCOPE = "needs"
# Kept with an idempotent response instead of the token, which is never stored in clear.
_SUBMISSION_KEY = "_submission_id"


# The callback answers staff enter (taken by phone) are stored under this respondent.
STAFF_RESPONDENT = "staff"
_FEEDBACK_FIELDS = ("round", "solved", "satisfaction", "comment", "reopen", "received_at", "counted")


def _idempotency_conflict() -> Conflict:
    return Conflict(
        "Idempotency-Key was already used with a different body",
        fields=[{"field": "Idempotency-Key", "message": "already used with a different body"}],
    )


def _token_revoked() -> Conflict:
    return Conflict(
        "the access token of the submission this Idempotency-Key made was revoked",
        fields=[{"field": "Idempotency-Key", "message": "its submission's access token was revoked"}],
    )


def response_for(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    """HTTP status and body for an outcome: 202 for a new case, 200 for a link to an open one."""
    body: dict[str, Any] = {
        "case_id": outcome.case_id,
        "status": outcome.status,
        "access_token": outcome.access_token,
        "linked": outcome.linked,
        "duplicate_of": outcome.case_id if outcome.linked else None,
        "reporter_count": outcome.reporter_count,
        "category": outcome.category,
        "classification": outcome.classification.model_dump(mode="json") if outcome.classification else None,
    }
    return (200 if outcome.linked else 202), body


async def submit_need(
    *,
    uow: IntakeUow,
    groups: SubmissionGroups,
    deps: Deps,
    need: Need,
    force_new: bool,
    idempotency_key: str | None,
    request_hash: str,
) -> tuple[int, dict[str, Any]]:
    """Accept a need; a repeated Idempotency-Key returns the first response with a fresh access token.

    Without a key the need joins whatever group is being committed (group commit); with one, the
    key's claim and the need share a transaction of their own. The stored response holds the
    submission id, not the token: a replay replaces the submission's token (the earlier one stops working).
    Conflict (409 naming Idempotency-Key) for a reused key with another body or a revoked token.
    """
    if idempotency_key is None:
        return response_for(await groups.submit(need, force_new=force_new))
    async with uow.begin() as tx:
        conn = tx.conn
        now = deps.clock.now()
        earlier = await store.claim_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, request_hash=request_hash, now=now
        )
        if earlier is not None:
            if earlier["request_hash"] != request_hash:
                raise _idempotency_conflict()
            body = orjson.loads(earlier["response"])
            token = await rotate_resident_token(
                conn, auth_schema=deps.auth_schema, submission_id=body.pop(_SUBMISSION_KEY, ""), now=now
            )
            if token is None:
                raise _token_revoked()
            return earlier["status_code"], {**body, "access_token": token}
        outcome = await accept_one(conn, deps=deps, need=need, force_new=force_new, issue_token=True)
        status, body = response_for(outcome)
        stored = {**body, "access_token": None, _SUBMISSION_KEY: outcome.submission_id}
        await store.finish_idempotency_key(
            conn, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, status_code=status, response=stored
        )
    return status, body


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


async def case_view(uow: IntakeUow, *, case_id: str, principal: Principal) -> CaseView:
    """The case for this caller, read in one transaction; NotFound unknown, Forbidden out of scope."""
    async with uow.begin() as tx:
        return await _case_view(tx.conn, case_id=case_id, principal=principal)


async def _case_view(conn: store.Connection, *, case_id: str, principal: Principal) -> CaseView:
    row = await store.get_case(conn, case_id=case_id)
    if row is None:
        raise NotFound(f"no case {case_id}")
    assignee = Assignee(kind=row["assignee_kind"], code=row["assignee_code"]) if row["assignee_kind"] else None
    if not principal.can_see(
        case_id=case_id,
        street=row["street"],
        department=assignee.code if assignee and assignee.kind == "department" else None,
        team=assignee.code if assignee and assignee.kind == "team" else None,
    ):
        raise Forbidden("this key may not read that case")
    own: dict[str, Any] = dict(row)
    respondent: str | None = None
    contact: dict[str, str] | None = None
    if principal.case_id is not None:
        submission = (
            await store.get_own_submission(conn, submission_id=principal.submission_id)
            if principal.submission_id
            else None
        )
        if submission is None or submission["case_id"] != case_id:
            raise Forbidden("this access token opens another case")
        respondent = submission["submission_id"]
        contact = _contact(submission["contact"])
        if submission["linked"]:
            for name in ("description", "address", "lat", "lon", "grid", "vulnerable", "reporter_kind"):
                own[name] = submission[name]
            own["classification"] = None  # how the first report's text was classified
    elif principal.role != "resident":
        contact = _contact(row["contact"])
    timeline = await store.get_timeline(conn, case_id=case_id)
    answers = await store.get_feedback(conn, case_id=case_id, respondent=respondent)
    round_ = row["resolved_round"]
    counted = await store.round_counted(conn, case_id=case_id, round_=round_) if round_ is not None else False
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
