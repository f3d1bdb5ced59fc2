"""Intake's HTTP routes: translate requests into service-layer calls, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.intake import store
from services.intake.models import CaseView, CatalogueEntry, NeedAccepted, NeedIn, TimelineEntry
from services.intake.service_layer import submit_need
from shared.events import Assignee, Location
from shared.http import ApiError, CurrentPrincipal
from shared.service import ServiceRuntime

router = APIRouter(prefix="/v1", tags=["needs"])


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


@router.get("/categories", response_model=list[CatalogueEntry], summary="Categories a need can have")
async def list_categories(rt: Runtime) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "sla_class": c.sla_class, "volunteer_ok": c.volunteer_ok}
        for c in rt.catalogue.categories
    ]


@router.get("/communities", response_model=list[CatalogueEntry], summary="Communities intake serves")
async def list_communities(rt: Runtime) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "street": c.street} for c in rt.catalogue.communities
    ]


@router.post("/needs", status_code=202, response_model=NeedAccepted, summary="Submit a need (no account needed)")
async def post_need(need: NeedIn, rt: Runtime) -> NeedAccepted:
    return await submit_need(
        pool=rt.pool,
        outbox=rt.outbox,
        catalogue=rt.catalogue,
        clock=rt.clock,
        need=need,
        secret=rt.settings.token_secret.get_secret_value(),
    )


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case, for whoever may see it")
async def get_case(case_id: str, rt: Runtime, principal: CurrentPrincipal) -> CaseView:
    row = await store.get_case(rt.pool, case_id=case_id)
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
    timeline = await store.get_timeline(rt.pool, case_id=case_id)
    return CaseView(
        case_id=row["case_id"],
        status=row["status"],
        category=row["category"],
        description=row["description"],
        community=row["community"],
        street=row["street"],
        grid=row["grid"],
        location=Location(lat=row["lat"], lon=row["lon"]) if row["lat"] is not None else None,
        address=row["address"],
        priority=row["priority"],
        vulnerable=row["vulnerable"],
        reporter_kind=row["reporter_kind"],
        assigned_to=assignee,
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        timeline=[TimelineEntry(at=t["at"], status=t["status"], note=t["note"]) for t in timeline],
    )
