"""Routing's case routes: work lists, the case with its reasons, and each workflow step."""

from __future__ import annotations

from typing import Annotated, cast, get_args

from fastapi import APIRouter, Query

from services.routing.cases import service_layer, views
from services.routing.cases.models import (
    ArbitrateIn,
    CaseList,
    CaseView,
    DeclineIn,
    MemberIn,
    NoteIn,
    OptionalNoteIn,
    PriorityIn,
    TriageIn,
)
from services.routing.cases.workflow import STATUSES
from services.routing.deps import Rt, Uow
from shared.auth import Principal
from shared.events import Assignee
from shared.events.common import AssigneeKind
from shared.http import ApiError, CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["cases"])

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _work(rt: Rt, uow: Uow) -> service_layer.Work:
    return service_layer.Work(uow=uow, clock=rt.clock, catalogue=rt.catalogue)


async def _view(uow: Uow, case_id: str) -> CaseView:
    return views.detail(*await service_layer.case_history(uow, case_id=case_id))


def _parse_assignee(rt: Rt, value: str) -> Assignee:
    """`kind:code` → Assignee, or a 422 listing what is valid."""
    kind, sep, code = value.partition(":")
    kinds = get_args(AssigneeKind)
    if not sep or kind not in kinds:
        raise field_error("assignee", f"use kind:code with kind one of {', '.join(kinds)} (got {value!r})")
    cat = rt.catalogue
    valid = {
        "department": [d.code for d in cat.departments],
        "team": [t.code for t in cat.teams],
        "street_office": [s.code for s in cat.street_offices],
    }[kind]
    if code not in valid:
        raise field_error("assignee", f"unknown {kind} {code!r}; valid: {', '.join(valid)}")
    return Assignee(kind=cast(AssigneeKind, kind), code=code)  # kind checked against AssigneeKind above


def _parse_statuses(value: str | None) -> list[str]:
    wanted = [s.strip() for s in value.split(",") if s.strip()] if value else []
    if bad := [s for s in wanted if s not in STATUSES]:
        raise field_error("status", f"unknown status {bad[0]!r}; valid: {', '.join(STATUSES)}")
    return wanted


def _street_scope(principal: Principal, street: str | None) -> str | None:
    """The street a street-office or admin caller may list (403 for another street)."""
    if principal.role == "admin":
        return street
    if principal.role != "street_office":
        raise ApiError(403, "forbidden", "only street office and admin keys see this queue")
    if street is not None and principal.scope is not None and street != principal.scope:
        raise ApiError(403, "forbidden", f"this key belongs to street {principal.scope}")
    return principal.scope or street


@router.get("/cases", response_model=CaseList, summary="A work list: cases by assignee and status")
async def list_cases(
    rt: Rt,
    uow: Uow,
    principal: CurrentPrincipal,
    assignee: Annotated[str | None, Query(description="kind:code, e.g. department:water")] = None,
    status: Annotated[str | None, Query(description="one status or a comma list")] = None,
    street: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CaseList:
    who = _parse_assignee(rt, assignee) if assignee else None
    statuses = _parse_statuses(status)
    if principal.role in ("department", "team"):
        own = Assignee(kind=principal.role, code=principal.scope or "")
        if who is not None and who != own:
            raise ApiError(403, "forbidden", f"this key sees only its own work list ({own.kind}:{own.code})")
        who = own
    elif principal.role in ("street_office", "admin"):
        street = _street_scope(principal, street)
    else:
        raise ApiError(403, "forbidden", "work lists are for departments, teams, street offices and admins")
    cases = await service_layer.work_list(
        uow, street=street, assignee=who, statuses=statuses, limit=limit, offset=offset
    )
    return CaseList(items=[views.summary(c) for c in cases], limit=limit, offset=offset)


@router.get("/arbitration", response_model=CaseList, summary="The street office's arbitration queue")
async def arbitration_queue(
    uow: Uow, principal: CurrentPrincipal, street: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> CaseList:
    scope = _street_scope(principal, street)
    cases = await service_layer.work_list(uow, street=scope, statuses=["arbitration"], limit=limit, offset=offset)
    return CaseList(items=[views.summary(c) for c in cases], limit=limit, offset=offset)


@router.get("/triage", response_model=CaseList, summary="Cases without a category, held by the street office")
async def triage_queue(
    uow: Uow, principal: CurrentPrincipal, street: str | None = None, limit: Limit = 100, offset: Offset = 0
) -> CaseList:
    scope = _street_scope(principal, street)
    cases = await service_layer.work_list(
        uow, street=scope, statuses=["routed"], category_missing=True, limit=limit, offset=offset
    )
    return CaseList(items=[views.summary(c) for c in cases], limit=limit, offset=offset)


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case with its decision history and reasons")
async def get_case(case_id: str, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    return views.detail(*await service_layer.read_case(uow, principal=principal, case_id=case_id))


@router.post("/cases/{case_id}/sign", response_model=CaseView, summary="Sign for the case (签收)")
async def sign(case_id: str, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.sign(_work(rt, uow), principal=principal, case_id=case_id)
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/decline", response_model=CaseView, summary="Decline the case (退单) with a reason")
async def decline(case_id: str, body: DeclineIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.decline(
        _work(rt, uow),
        principal=principal,
        case_id=case_id,
        reason_code=body.reason_code,
        reason_text=body.reason_text,
        max_declines=rt.settings.max_declines,
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/progress", response_model=CaseView, summary="Report progress")
async def progress(case_id: str, body: NoteIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.progress(
        _work(rt, uow), principal=principal, case_id=case_id, note=body.note, public_note=body.public_note
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/await-resident", response_model=CaseView, summary="Wait on the resident (SLA pauses)")
async def await_resident(
    case_id: str, rt: Rt, uow: Uow, principal: CurrentPrincipal, body: OptionalNoteIn | None = None
) -> CaseView:
    await service_layer.await_resident(
        _work(rt, uow), principal=principal, case_id=case_id, note=(body or OptionalNoteIn()).note
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/resume", response_model=CaseView, summary="The wait on the resident is over")
async def resume(case_id: str, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.resume(_work(rt, uow), principal=principal, case_id=case_id)
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/resolve", response_model=CaseView, summary="Resolve with a resolution note")
async def resolve(case_id: str, body: NoteIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.resolve(
        _work(rt, uow), principal=principal, case_id=case_id, note=body.note, public_note=body.public_note
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/assign-member", response_model=CaseView, summary="Team lead assigns a member")
async def assign_member(case_id: str, body: MemberIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.assign_member(_work(rt, uow), principal=principal, case_id=case_id, member=body.member)
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/priority", response_model=CaseView, summary="Street office changes the priority")
async def change_priority(case_id: str, body: PriorityIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.change_priority(
        _work(rt, uow), principal=principal, case_id=case_id, priority=body.priority, note=body.note
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/arbitrate", response_model=CaseView, summary="Street office decides (final)")
async def arbitrate(case_id: str, body: ArbitrateIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.arbitrate(
        _work(rt, uow), principal=principal, case_id=case_id, assignee=body.assignee, note=body.note
    )
    return await _view(uow, case_id)


@router.post("/cases/{case_id}/triage", response_model=CaseView, summary="Street office gives the category")
async def triage(case_id: str, body: TriageIn, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> CaseView:
    await service_layer.triage(
        _work(rt, uow), principal=principal, case_id=case_id, category=body.category, note=body.note
    )
    return await _view(uow, case_id)
