"""The dashboard's read API: open cases filtered and paged on the server, overview, demand, supply."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from services.notify.cases import service_layer
from services.notify.deps import Rt
from services.notify.projection import ESCALATION_ORDER
from shared.events import known_types
from shared.http import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["cases"])
SlaFilter = Literal["on_track", "warning", "breached", "none", "met", "paused"]


class CasePage(BaseModel):
    """One page of cases; `total` counts every match."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@router.get("/cases", response_model=CasePage, summary="Cases you may see, filtered and paged on the server")
async def list_cases(
    rt: Rt,
    principal: CurrentPrincipal,
    state: Literal["open", "closed", "all"] = "open",
    category: Annotated[str | None, Query(max_length=64)] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    assignee: Annotated[str | None, Query(max_length=80, description="code, or kind:code")] = None,
    sla_state: SlaFilter | None = None,
    escalated: bool | None = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the description or case id")] = None,
    sort: Literal["due", "submitted", "updated", "sla"] = "sla",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CasePage:
    where_filter = service_layer.checked_filter(
        rt.catalogue,
        assignee=assignee,
        state=state,
        category=category,
        community=community,
        sla_state=sla_state,
        escalated=escalated,
        status=status,
        q=q,
    )
    items, total = await service_layer.list_cases(
        rt.pool, principal=principal, where_filter=where_filter, sort=sort, limit=limit, offset=offset
    )
    return CasePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/cases/{case_id}", summary="One case as notify projects it (status, owners, SLA state per deadline)")
async def get_case(case_id: Annotated[str, Path(max_length=64)], rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    return await service_layer.get_case(rt.pool, principal=principal, case_id=case_id)


@router.get("/stats/overview", summary="Open cases by SLA state, status and escalation")
async def overview(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    return await service_layer.overview(rt.pool, principal=principal)


@router.get("/stats/demand", summary="Needs submitted per category per day")
async def demand(rt: Rt, principal: CurrentPrincipal, days: Annotated[int, Query(ge=1, le=365)] = 14) -> dict[str, Any]:
    return await service_layer.demand(
        rt.pool, principal=principal, catalogue=rt.catalogue, now=rt.clock.now(), days=days
    )


@router.get("/stats/supply", summary="Volunteer supply per skill against open demand per category (以需定供)")
async def supply(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    return await service_layer.supply(rt.pool, principal=principal, catalogue=rt.catalogue)


class _Named(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def name_en(self) -> str: ...


def named(items: Iterable[_Named]) -> list[dict[str, str]]:
    """Code and both names of catalogue entries, as the dashboard lists them."""
    return [{"code": i.code, "name": i.name, "name_en": i.name_en} for i in items]


@router.get("/dashboard/config", summary="What the dashboard needs to start: names, the sla URL, who you are")
async def dashboard_config(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    cat = rt.catalogue
    street = principal.scope if principal.role in ("street_office", "grid_worker") else None
    return {
        "principal": {"role": principal.role, "scope": principal.scope, "name": principal.name},
        "sla_url": rt.settings.dashboard_sla_url,
        "timezone": cat.timezone,
        "street": named([office])[0] if street and (office := cat.street(street)) else None,
        "categories": [
            {**n, "volunteer_ok": c.volunteer_ok, "skills": list(c.skills)}
            for n, c in zip(named(cat.categories), cat.categories, strict=True)
        ],
        "communities": named([c for c in cat.communities if street is None or c.street == street]),
        "departments": named([d for d in cat.departments if street is None or street in d.streets]),
        "teams": named(cat.teams),
        "escalation_levels": list(ESCALATION_ORDER),
        "event_types": sorted(known_types()),
    }
