"""Intake's native HTTP routes: translate requests into service-layer calls, nothing more."""

from __future__ import annotations

import email.message
import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from services.intake import store, store_links
from services.intake.deps import OptionalPrincipal, Runtime, deps_of, settings_of, submission_groups_of
from services.intake.models import (
    CaseView,
    CatalogueEntry,
    ClassifyIn,
    ClassifyOut,
    FeedbackView,
    NeedAccepted,
    NeedIn,
    TimelineEntry,
)
from services.intake.need import Need, check_category, check_pairing, resolve_place
from services.intake.needs_service import IdempotencyConflict, submit_need
from services.intake.permissions import check_submitter
from services.intake.status import open311_status
from services.intake.text_rules import FieldError, check_lat_lon
from services.intake.triage import classify
from shared.events import Assignee, Location
from shared.events.intake import Classification
from shared.http import ApiError, CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["needs"])
MAX_IDEMPOTENCY_KEY = 255


async def require_json(request: Request) -> None:
    """415 naming Content-Type unless the body is JSON (an XML body to a JSON route, say)."""
    value = request.headers.get("content-type")
    if value and value.split(";", 1)[0].strip().lower() == "application/json":
        return  # the common case, without a header parse
    if value:
        message = email.message.Message()
        message["content-type"] = value
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"this route takes a JSON body (Content-Type: application/json), got {value or 'no Content-Type'}",
        fields=[{"field": "Content-Type", "message": "must be application/json"}],
    )


JsonBody = Annotated[None, Depends(require_json)]


def _idempotency_key(value: str | None) -> str | None:
    """A usable Idempotency-Key or a 422 naming the header."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise field_error("Idempotency-Key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return key


@router.get("/categories", response_model=list[CatalogueEntry], summary="Categories a need can have")
async def list_categories(rt: Runtime) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "sla_class": c.sla_class, "volunteer_ok": c.volunteer_ok}
        for c in rt.catalogue.categories
    ]


@router.get("/communities", response_model=list[CatalogueEntry], summary="Communities intake serves")
async def list_communities(rt: Runtime) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "street": c.street, "grids": [g.code for g in c.grids]}
        for c in rt.catalogue.communities
    ]


@router.post("/classify", response_model=ClassifyOut, summary="Preview the category intake would assign to a text")
async def post_classify(body: ClassifyIn, rt: Runtime, _: JsonBody) -> ClassifyOut:
    choice = classify(rt.catalogue, body.text, settings_of(rt).classification_threshold)
    assert choice.classification is not None
    return ClassifyOut(category=choice.category, classification=choice.classification)


def need_from_api(body: NeedIn, rt: Runtime) -> Need:
    """Check a native submission against the catalogue; FieldError names the field at fault."""
    catalogue = rt.catalogue
    point = check_lat_lon(body.location.lat, body.location.lon) if body.location else None
    lat, lon = point if point else (None, None)
    community, grid = resolve_place(
        catalogue,
        community=body.community,
        grid=body.grid,
        lat=lat,
        lon=lon,
        address=body.address,
        max_distance_m=settings_of(rt).max_community_distance_m,
    )
    contact = body.reporter.model_dump(exclude={"kind"}, exclude_none=True)
    return Need(
        description=body.description,
        community=community.code,
        street=community.street,
        category=check_category(catalogue, body.category),
        grid=grid,
        lat=lat,
        lon=lon,
        address=body.address,
        address_id=body.address_id,
        reporter_kind=body.reporter.kind,
        priority=body.priority,
        vulnerable=body.vulnerable or body.pairing_id is not None,
        pairing_id=check_pairing(catalogue, body.pairing_id, community.code),
        language=body.language,
        contact=contact,
        source="api",
    )


@router.post(
    "/needs",
    status_code=202,
    response_model=NeedAccepted,
    summary="Submit a need (no account needed); 200 when linked to an open duplicate",
    responses={200: {"model": NeedAccepted, "description": "linked to an open case (duplicate)"}},
)
async def post_need(
    body: NeedIn,
    rt: Runtime,
    principal: OptionalPrincipal,
    _: JsonBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    key = _idempotency_key(idempotency_key)
    try:
        need = need_from_api(body, rt)
    except FieldError as exc:
        raise field_error(exc.field, exc.message) from None
    check_submitter(principal, need, force_new=body.force_new)
    try:
        status, response = await submit_need(
            pool=rt.pool,
            groups=submission_groups_of(rt),
            deps=deps_of(rt),
            need=need,
            force_new=body.force_new,
            secret=rt.settings.token_secret.get_secret_value(),
            idempotency_key=key,
            request_hash=_hash(body),
        )
    except IdempotencyConflict:
        raise ApiError(
            409,
            "conflict",
            "Idempotency-Key was already used with a different body",
            fields=[{"field": "Idempotency-Key", "message": "already used with a different body"}],
        ) from None
    return JSONResponse(response, status_code=status)


def _hash(body: NeedIn) -> str:
    """Canonical digest of a submission, so the same need in different JSON spelling matches."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _classification(value: Any) -> Classification | None:
    if value is None:
        return None
    return Classification.model_validate(orjson.loads(value) if isinstance(value, str | bytes) else value)


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case with its timeline, for whoever may see it")
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
    answers = await store_links.get_feedback(rt.pool, case_id=case_id)
    answered = {a["round"] for a in answers}
    awaiting = row["resolved_round"] if row["status"] == "resolved" and row["resolved_round"] not in answered else None
    staff = principal.case_id is None and principal.role != "resident"
    contact = orjson.loads(row["contact"]) if staff and row["contact"] else None
    return CaseView(
        case_id=row["case_id"],
        status=row["status"],
        open311_status=open311_status(row["status"]),
        category=row["category"],
        classification=_classification(row["classification"]),
        description=row["description"],
        community=row["community"],
        street=row["street"],
        grid=row["grid"],
        location=Location(lat=row["lat"], lon=row["lon"]) if row["lat"] is not None else None,
        address=row["address"],
        priority=row["priority"],
        vulnerable=row["vulnerable"],
        reporter_kind=row["reporter_kind"],
        reporter_count=row["reporter_count"],
        assigned_to=assignee,
        status_notes=row["status_note"],
        expected_at=row["expected_at"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        feedback_round=awaiting,
        feedback=[FeedbackView(**dict(a)) for a in answers],
        timeline=[TimelineEntry(at=t["at"], status=t["status"], note=t["note"], actor=t["actor"]) for t in timeline],
        contact=contact or None,
    )
