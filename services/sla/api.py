"""SLA's HTTP routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from services.sla import store
from shared.http import CurrentPrincipal
from shared.service import ServiceRuntime

router = APIRouter(prefix="/v1", tags=["deadlines"])


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


class DeadlineView(BaseModel):
    case_id: str
    kind: str
    attempt: int
    assignee_kind: str | None
    assignee_code: str | None
    sla_class: str | None
    started_at: datetime
    due_at: datetime
    state: str


@router.get("/cases/{case_id}/deadlines", response_model=list[DeadlineView], summary="A case's deadlines")
async def case_deadlines(case_id: str, rt: Runtime, principal: CurrentPrincipal) -> list[DeadlineView]:
    rows = await store.deadlines_for(rt.pool, case_id=case_id)
    visible = [
        r
        for r in rows
        if principal.can_see(
            case_id=case_id,
            department=r["assignee_code"] if r["assignee_kind"] == "department" else None,
            team=r["assignee_code"] if r["assignee_kind"] == "team" else None,
            street=r["street"],
        )
    ]
    return [DeadlineView(**{k: r[k] for k in DeadlineView.model_fields}) for r in visible]
