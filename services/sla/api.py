"""SLA's HTTP routes: a case's deadlines, pausing / resuming its clocks, and the three rates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services.sla import service_layer
from services.sla.deps import Deps, Rt, Uow
from services.sla.rates import DIMENSIONS, PERIODS, Period, bucket_of, default_range, local_day, ratio
from shared.auth import Principal
from shared.http import ApiError, CurrentPrincipal, field_error, require_roles
from shared.scope import require_case

router = APIRouter(prefix="/v1", tags=["deadlines"])
rates_router = APIRouter(prefix="/v1", tags=["rates"])
# Longest range one rates query may span, per period (in buckets): keeps responses bounded.
MAX_BUCKETS = {"day": 366, "week": 260, "month": 120}

Supervisor = Annotated[Principal, require_roles("street_office")]
CaseId = Annotated[str, Path(max_length=64)]


class DeadlineView(BaseModel):
    """One deadline of a case as the API shows it."""

    case_id: str
    kind: str
    round: int
    attempt: int
    assignee_kind: str | None
    assignee_code: str | None
    sla_class: str | None
    calendar: str | None
    started_at: datetime
    due_at: datetime | None
    # armed | paused | overdue (running past due) | met | breached (stopped late) | cancelled
    state: str
    paused_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    breached_at: datetime | None
    fired: list[str]
    next_step: str | None
    next_fire_at: datetime | None


def _view(row: Any) -> DeadlineView:
    state = row["state"]
    if state == "armed" and row["breached_at"] is not None:
        state = "overdue"
    return DeadlineView(
        **{k: row[k] for k in DeadlineView.model_fields if k not in {"state", "fired"}},
        state=state,
        fired=list(row["fired_steps"]),
    )


@router.get(
    "/cases/{case_id}/deadlines",
    response_model=list[DeadlineView],
    summary="A case's deadlines (its street office, assignee, co-handlers, reporter and admin; 403 for others)",
)
async def case_deadlines(case_id: CaseId, uow: Uow, principal: CurrentPrincipal) -> list[DeadlineView]:
    require_case(principal, await service_layer.case_owners(uow, case_id=case_id), case_id=case_id)
    return [_view(r) for r in await service_layer.case_deadlines(uow, case_id=case_id)]


async def _clock_command(
    uow: service_layer.SlaUnitOfWork, deps: service_layer.SlaDeps, principal: Principal, case_id: str, *, pause: bool
) -> list[DeadlineView]:
    require_case(principal, await service_layer.case_owners(uow, case_id=case_id), case_id=case_id)
    command = service_layer.pause if pause else service_layer.resume
    await command(uow, deps, case_id=case_id)  # NotFound → 404, Conflict → 409 (shared.http)
    return [_view(r) for r in await service_layer.case_deadlines(uow, case_id=case_id)]


@router.post(
    "/cases/{case_id}/pause",
    response_model=list[DeadlineView],
    summary="Pause a case's clocks while it waits on the resident (409 when it does not)",
)
async def pause_case(case_id: CaseId, uow: Uow, deps: Deps, principal: Supervisor) -> list[DeadlineView]:
    return await _clock_command(uow, deps, principal, case_id, pause=True)


@router.post(
    "/cases/{case_id}/resume",
    response_model=list[DeadlineView],
    summary="Run a case's paused clocks again (street office override; 409 when not paused)",
)
async def resume_case(case_id: CaseId, uow: Uow, deps: Deps, principal: Supervisor) -> list[DeadlineView]:
    return await _clock_command(uow, deps, principal, case_id, pause=False)


class RateRow(BaseModel):
    """The three rates of one dimension value in one period bucket (or over the whole range)."""

    value: str
    bucket: date | None  # None on the totals rows
    dispatched: int
    signed_in_time: int
    response_rate: float | None
    closed: int
    solved: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None


class RatesView(BaseModel):
    """Rates per bucket and totals per value over the queried range."""

    model_config = ConfigDict(populate_by_name=True)

    dimension: str
    period: str
    from_: date = Field(alias="from")
    to: date
    rows: list[RateRow]
    totals: list[RateRow]


def _rate_row(value: str, bucket: date | None, c: dict[str, int]) -> RateRow:
    return RateRow(
        value=value,
        bucket=bucket,
        response_rate=ratio(c["signed_in_time"], c["dispatched"]),
        resolution_rate=ratio(c["solved"], c["closed"]),
        satisfaction_rate=ratio(c["satisfied"], c["rated"]),
        **c,
    )


def _scope(principal: Principal, dimension: str) -> tuple[str | None, str | None]:
    """(street, value) filters a caller is held to; 403 for what they may not read."""
    if principal.role == "admin":
        return None, None
    if principal.role in ("street_office", "grid_worker"):
        return principal.scope, None
    if principal.role in ("department", "team") and principal.scope:
        if dimension != principal.role:
            raise ApiError(
                403, "forbidden", f"a {principal.role} key reads only dimension={principal.role} (its own row)"
            )
        return None, principal.scope
    raise ApiError(403, "forbidden", "the rates are for street offices, departments, teams and admins")


_COUNTERS = ("dispatched", "signed_in_time", "closed", "solved", "rated", "satisfied")


@rates_router.get(
    "/rates",
    response_model=RatesView,
    response_model_by_alias=True,
    summary="The three rates per department, team, street, community or category, by day, week or month",
)
async def rates(
    rt: Rt,
    uow: Uow,
    principal: CurrentPrincipal,
    dimension: Annotated[str, Query(description=f"one of {', '.join(DIMENSIONS)}")],
    period: Annotated[str, Query(description=f"one of {', '.join(PERIODS)}")] = "month",
    from_: Annotated[date | None, Query(alias="from", description="first day (YYYY-MM-DD), catalogue-local")] = None,
    to: Annotated[date | None, Query(description="last day (YYYY-MM-DD), inclusive; default today")] = None,
) -> dict[str, Any]:
    if dimension not in DIMENSIONS:
        raise field_error("dimension", f"unknown dimension {dimension!r}; valid: {', '.join(DIMENSIONS)}")
    if period not in PERIODS:
        raise field_error("period", f"unknown period {period!r}; valid: {', '.join(PERIODS)}")
    p: Period = period
    today = local_day(rt.clock.now(), rt.catalogue.timezone)
    last = to or today
    first = from_ or default_range(p, last)[0]
    if first > last:
        raise field_error("from", f"from ({first}) is after to ({last})")
    first_bucket, last_bucket = bucket_of(first, p), bucket_of(last, p)
    span = {"day": (last - first).days + 1, "week": (last - first).days // 7 + 1}.get(
        p, (last.year - first.year) * 12 + last.month - first.month + 1
    )
    if span > MAX_BUCKETS[p]:
        raise field_error("from", f"range spans {span} {p}s; at most {MAX_BUCKETS[p]} per query")
    street, value = _scope(principal, dimension)
    rows = await service_layer.rate_rows(
        uow, dimension=dimension, period=p, first=first_bucket, last=last_bucket, street=street, value=value
    )
    out: list[RateRow] = []
    totals: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = {c: int(r[c]) for c in _COUNTERS}
        out.append(_rate_row(r["value"], r["bucket"], counts))
        total = totals.setdefault(r["value"], dict.fromkeys(_COUNTERS, 0))
        for c in _COUNTERS:
            total[c] += counts[c]
    return {
        "dimension": dimension,
        "period": p,
        "from": first,
        "to": last,
        "rows": out,
        "totals": [_rate_row(v, None, c) for v, c in totals.items()],
    }
