"""The dashboard's read use cases: which cases a caller may see, filtered; one case; the stats."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.notify.store import cases as store
from services.notify.store import views as store_views
from services.notify.store.deliveries import Pool
from services.notify.store.views import CaseFilter, Where, scope_clause
from services.notify.supply import supply_vs_demand
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.errors import Forbidden, InvalidInput, NotFound

ASSIGNEE_KINDS = ("department", "team", "street_office")


async def visible(pool: Pool, principal: Principal) -> Where:
    """The clause limiting cases to what the caller may see (a resident: its own and linked cases)."""
    where = Where()
    linked: tuple[str, ...] = ()
    if principal.case_id is not None:
        linked = tuple(await store.linked_cases(pool, submission_id=principal.case_id))
    scope_clause(principal, where, linked=linked)
    return where


def case_view(row: Any) -> dict[str, Any]:
    """A case row as the API shows it (the assignee as one object)."""
    out = dict(row)
    out["assignee"] = (
        {"kind": out.pop("assignee_kind"), "code": out.pop("assignee_code")} if row["assignee_kind"] else None
    )
    return out


def checked_filter(catalogue: Catalogue, *, assignee: str | None, **values: Any) -> CaseFilter:
    """The filter, its codes checked against the catalogue (InvalidInput naming the field and the valid codes)."""
    category, community = values.get("category"), values.get("community")
    if category and category != "unclassified" and catalogue.category(category) is None:
        valid = ", ".join(c.code for c in catalogue.categories)
        raise InvalidInput("category", f"unknown category {category!r}; valid: unclassified, {valid}")
    if community and catalogue.community(community) is None:
        valid = ", ".join(c.code for c in catalogue.communities)
        raise InvalidInput("community", f"unknown community {community!r}; valid: {valid}")
    kind, code = "", None
    if assignee:
        kind, _, code = assignee.rpartition(":")
        if kind and kind not in ASSIGNEE_KINDS:
            raise InvalidInput("assignee", "kind must be department, team or street_office")
    return CaseFilter(assignee_kind=kind, assignee_code=code, **values)


async def list_cases(
    pool: Pool, *, principal: Principal, where_filter: CaseFilter, sort: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the cases the caller may see, and how many match in all."""
    where = await visible(pool, principal)
    store_views.add_filter(where, where_filter)
    rows, total = await store_views.list_cases(pool, where=where, sort=sort, limit=limit, offset=offset)
    return [case_view(r) for r in rows], total


async def get_case(pool: Pool, *, principal: Principal, case_id: str) -> dict[str, Any]:
    """One case the caller may see; NotFound if there is none, Forbidden if it is not theirs to read."""
    rows, _ = await list_cases(
        pool, principal=principal, where_filter=CaseFilter(case_id=case_id), sort="updated", limit=1, offset=0
    )
    if not rows:
        if await store_views.get_case(pool, case_id=case_id) is None:
            raise NotFound(f"no case {case_id}")
        raise Forbidden("this key may not read that case")
    return rows[0]


async def overview(pool: Pool, *, principal: Principal) -> dict[str, Any]:
    """Open cases by SLA state, status and escalation."""
    return await store_views.overview(pool, where=await visible(pool, principal))


async def demand(pool: Pool, *, principal: Principal, catalogue: Catalogue, now: datetime, days: int) -> dict[str, Any]:
    """Needs submitted per category per local day, the last `days` days."""
    zone = catalogue.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo(zone))
    rows = await store_views.demand(pool, where=await visible(pool, principal), since=since, zone=zone)
    axis = [first + timedelta(days=i) for i in range(days)]
    series: dict[str, list[int]] = {}
    for r in rows:
        day: date = r["day"]
        if first <= day <= today:
            series.setdefault(r["category"] or "unclassified", [0] * days)[(day - first).days] += r["n"]
    ranked = sorted(series.items(), key=lambda kv: -sum(kv[1]))
    return {"days": [d.isoformat() for d in axis], "series": [{"category": k, "counts": v} for k, v in ranked]}


async def supply(pool: Pool, *, principal: Principal, catalogue: Catalogue) -> dict[str, Any]:
    """Volunteer supply per skill against open demand per category."""
    counts = await store_views.open_by_category(pool, where=await visible(pool, principal))
    street = principal.scope if principal.role in ("street_office", "grid_worker") else None
    return supply_vs_demand(catalogue, street=street, open_by_category=counts)
