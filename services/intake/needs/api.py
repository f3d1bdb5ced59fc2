"""The native needs API: translate requests into service-layer calls, nothing more."""

from __future__ import annotations

import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from services.intake.deps import JsonBody, OptionalPrincipal, Rt, SubmissionLimit, deps_of, uow_of
from services.intake.need import Need, check_category, check_pairing, resolve_place
from services.intake.needs.models import (
    CaseView,
    CatalogueEntry,
    ClassifyIn,
    ClassifyOut,
    NeedAccepted,
    NeedIn,
)
from services.intake.needs.service_layer import case_view, submit_need
from services.intake.permissions import check_submitter
from services.intake.text_rules import FieldError, check_lat_lon
from services.intake.triage import classify
from shared.http import CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["needs"])
MAX_IDEMPOTENCY_KEY = 255


def _idempotency_key(value: str | None) -> str | None:
    """A usable Idempotency-Key or a 422 naming the header."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise field_error("Idempotency-Key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return key


@router.get("/categories", response_model=list[CatalogueEntry], summary="Categories a need can have")
async def list_categories(rt: Rt) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "sla_class": c.sla_class, "volunteer_ok": c.volunteer_ok}
        for c in rt.catalogue.categories
    ]


@router.get("/communities", response_model=list[CatalogueEntry], summary="Communities intake serves")
async def list_communities(rt: Rt) -> list[dict[str, object]]:
    return [
        {"code": c.code, "name": c.name, "name_en": c.name_en, "street": c.street, "grids": [g.code for g in c.grids]}
        for c in rt.catalogue.communities
    ]


@router.post("/classify", response_model=ClassifyOut, summary="Preview the category intake would assign to a text")
async def post_classify(body: ClassifyIn, rt: Rt, _: JsonBody) -> ClassifyOut:
    choice = classify(rt.catalogue, body.text, rt.settings.classification_threshold)
    assert choice.classification is not None
    return ClassifyOut(category=choice.category, classification=choice.classification)


def need_from_api(body: NeedIn, rt: Rt) -> Need:
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
        max_distance_m=rt.settings.max_community_distance_m,
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
    responses={
        200: {"model": NeedAccepted, "description": "linked to an open case (duplicate)"},
        429: {"description": "over the submission limit of this client address (or staff key); see Retry-After"},
    },
)
async def post_need(
    body: NeedIn,
    rt: Rt,
    principal: OptionalPrincipal,
    _limit: SubmissionLimit,
    _: JsonBody,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    key = _idempotency_key(idempotency_key)
    try:
        need = need_from_api(body, rt)
    except FieldError as exc:
        raise field_error(exc.field, exc.message) from None
    check_submitter(principal, need, force_new=body.force_new)
    status, response = await submit_need(
        uow=uow_of(rt),
        groups=rt.extras.submission_groups,
        deps=deps_of(rt),
        need=need,
        force_new=body.force_new,
        idempotency_key=key,
        request_hash=_hash(body),
    )
    return JSONResponse(response, status_code=status)


def _hash(body: NeedIn) -> str:
    """Canonical digest of a submission, so the same need in different JSON spelling matches."""
    canonical = orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@router.get("/cases/{case_id}", response_model=CaseView, summary="A case with its timeline, for whoever may see it")
async def get_case(case_id: str, rt: Rt, principal: CurrentPrincipal) -> CaseView:
    return await case_view(uow_of(rt), case_id=case_id, principal=principal)
