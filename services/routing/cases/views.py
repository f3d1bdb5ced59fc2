"""Turning stored cases into API views (pure: the service layer reads, this shapes)."""

from __future__ import annotations

from typing import Any

import orjson

from services.routing.cases.models import CaseSummary, CaseView, DecisionView, DeclineView, StepView
from services.routing.cases.store import Case, History
from shared.events import Assignee, Location


def summary(case: Case) -> CaseSummary:
    """The work-list view of a case."""
    return CaseSummary(**_summary_fields(case))


def _summary_fields(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "status": case.status,
        "category": case.category,
        "description": case.need.get("description", ""),
        "community": case.community,
        "street": case.street,
        "priority": case.priority,
        "assignee": case.assignee,
        "co_handlers": list(case.co_handlers),
        "member": case.member,
        "attempt": case.attempt,
        "decided_by": case.decided_by,
        "final": case.final,
        "decline_count": case.decline_count,
        "round": case.round,
        "submitted_at": case.submitted_at,
        "updated_at": case.updated_at,
        "signed_at": case.signed_at,
        "first_feedback_at": case.first_feedback_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
    }


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def detail(case: Case, past: History) -> CaseView:
    """A case with its decisions (and their reasons), declines and steps."""
    location = case.need.get("location")
    return CaseView(
        **_summary_fields(case),
        grid=case.need.get("grid"),
        address=case.need.get("address"),
        location=Location.model_validate(location) if location else None,
        vulnerable=bool(case.need.get("vulnerable", False)),
        pairing_id=case.need.get("pairing_id"),
        decisions=[
            DecisionView(
                attempt=r["attempt"],
                assignee=Assignee(kind=r["assignee_kind"], code=r["assignee_code"]),
                co_handlers=[Assignee.model_validate(c) for c in _json(r["co_handlers"])],
                member=r["member"],
                reasons=_json(r["reasons"]),
                decided_by=r["decided_by"],
                final=r["final"],
                decided_at=r["decided_at"],
            )
            for r in past["decisions"]
        ],
        declines=[
            DeclineView(
                attempt=r["attempt"],
                assignee=Assignee(kind=r["assignee_kind"], code=r["assignee_code"]),
                reason_code=r["reason_code"],
                reason_text=r["reason_text"],
                declined_at=r["declined_at"],
            )
            for r in past["declines"]
        ],
        steps=[
            StepView(round=r["round"], action=r["action"], actor=r["actor"], note=r["note"], at=r["at"])
            for r in past["steps"]
        ],
    )
