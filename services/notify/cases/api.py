"""The dashboard's read API: open cases filtered and paged on the server, overview, demand, supply."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from services.notify.deps import Rt
from services.notify.projection import ESCALATION_ORDER
from services.notify.store import cases as store
from services.notify.store import views as store_views
from services.notify.store.views import SORTS, Where, scope_clause
from services.notify.supply import supply_vs_demand
from shared.auth import Principal
from shared.events import known_types
from shared.http import ApiError, CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["cases"])
SlaFilter = Literal["on_track", "warning", "breached", "none", "met", "paused"]


class CasePage(BaseModel):
    """One page of cases; `total` counts every match."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


async def _where(rt: Rt, principal: Principal) -> Where:
    where = Where()
    linked: tuple[str, ...] = ()
    if principal.case_id is not None:
        linked = tuple(await store.linked_cases(rt.pool, submission_id=principal.case_id))
    scope_clause(principal, where, linked=linked)
    return where


def _case_view(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["assignee"] = (
        {"kind": out.pop("assignee_kind"), "code": out.pop("assignee_code")} if row["assignee_kind"] else None
    )
    return out


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
    where = await _where(rt, principal)
    if state != "all":
        where.add("is_open" if state == "open" else "NOT is_open")
    if category:
        if category != "unclassified" and rt.catalogue.category(category) is None:
            valid = ", ".join(c.code for c in rt.catalogue.categories)
            raise field_error("category", f"unknown category {category!r}; valid: unclassified, {valid}")
        where.add("category IS NULL" if category == "unclassified" else f"category = {where.param(category)}")
    if community:
        if rt.catalogue.community(community) is None:
            valid = ", ".join(c.code for c in rt.catalogue.communities)
            raise field_error("community", f"unknown community {community!r}; valid: {valid}")
        where.add(f"community = {where.param(community)}")
    if assignee:
        kind, _, code = assignee.rpartition(":")
        if kind and kind not in ("department", "team", "street_office"):
            raise field_error("assignee", "kind must be department, team or street_office")
        p = where.param(code)
        if kind:
            where.add(f"assignee_kind = {where.param(kind)} AND assignee_code = {p}")
        else:
            where.add(f"(assignee_code = {p} OR {p} = ANY(co_departments) OR {p} = ANY(co_teams))")
    if sla_state:
        where.add(f"sla_state = {where.param(sla_state)}")
    if escalated is not None:
        where.add("escalation IS NOT NULL" if escalated else "escalation IS NULL")
    if status:
        where.add(f"status = {where.param(status)}")
    if q:
        p = where.param(f"%{q.replace('%', '').replace('_', '')}%")
        where.add(f"(description ILIKE {p} OR case_id ILIKE {p})")
    rows, total = await store_views.list_cases(rt.pool, where=where, sort=sort, limit=limit, offset=offset)
    assert sort in SORTS
    return CasePage(items=[_case_view(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/cases/{case_id}", summary="One case as notify projects it (status, owners, SLA state per deadline)")
async def get_case(case_id: Annotated[str, Path(max_length=64)], rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    where = await _where(rt, principal)
    where.add(f"case_id = {where.param(case_id)}")
    rows, _ = await store_views.list_cases(rt.pool, where=where, sort="updated", limit=1, offset=0)
    if not rows:
        exists = await store_views.get_case(rt.pool, case_id=case_id)
        if exists is None:
            raise ApiError(404, "not_found", f"no case {case_id}")
        raise ApiError(403, "forbidden", "this key may not read that case")
    return _case_view(rows[0])


@router.get("/stats/overview", summary="Open cases by SLA state, status and escalation")
async def overview(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    return await store_views.overview(rt.pool, where=await _where(rt, principal))


@router.get("/stats/demand", summary="Needs submitted per category per day")
async def demand(rt: Rt, principal: CurrentPrincipal, days: Annotated[int, Query(ge=1, le=365)] = 14) -> dict[str, Any]:
    zone = rt.catalogue.timezone
    today = rt.clock.now().astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo(zone))
    rows = await store_views.demand(rt.pool, where=await _where(rt, principal), since=since, zone=zone)
    axis = [first + timedelta(days=i) for i in range(days)]
    series: dict[str, list[int]] = {}
    for r in rows:
        day: date = r["day"]
        if first <= day <= today:
            series.setdefault(r["category"] or "unclassified", [0] * days)[(day - first).days] += r["n"]
    ranked = sorted(series.items(), key=lambda kv: -sum(kv[1]))
    return {"days": [d.isoformat() for d in axis], "series": [{"category": k, "counts": v} for k, v in ranked]}


@router.get("/stats/supply", summary="Volunteer supply per skill against open demand per category (以需定供)")
async def supply(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    counts = await store_views.open_by_category(rt.pool, where=await _where(rt, principal))
    street = principal.scope if principal.role in ("street_office", "grid_worker") else None
    return supply_vs_demand(rt.catalogue, street=street, open_by_category=counts)


@router.get("/dashboard/config", summary="What the dashboard needs to start: names, the sla URL, who you are")
async def dashboard_config(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    cat = rt.catalogue
    street = principal.scope if principal.role in ("street_office", "grid_worker") else None
    named = lambda items: [{"code": i.code, "name": i.name, "name_en": i.name_en} for i in items]  # noqa: E731
    return {
        "principal": {"role": principal.role, "scope": principal.scope, "name": principal.name},
        "sla_url": rt.settings.dashboard_sla_url,
        "timezone": cat.timezone,
        "street": named([cat.street(street)])[0] if street and cat.street(street) else None,
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
