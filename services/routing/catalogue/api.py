"""Routing's catalogue routes: read it, change it (admin), list its versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.routing import catalogue_admin
from services.routing.models import CatalogueChangeView, CatalogueVersionView, CatalogueView
from shared.http import ApiError, CurrentPrincipal, authenticate
from shared.service import Runtime

router = APIRouter(prefix="/v1/catalogue", tags=["catalogue"])


@router.get("", response_model=CatalogueView, summary="The catalogue in force (full=true: with personal data, admin)")
async def get_catalogue(request: Request, rt: Runtime, full: bool = False) -> dict[str, Any]:
    catalogue = rt.catalogue
    if full:
        principal = await authenticate(request)
        if principal.role != "admin":
            raise ApiError(403, "forbidden", "only admin keys read the full catalogue (pairings, members, e-mails)")
    body = catalogue.to_dict() if full else catalogue.to_public_dict()
    return {"version": catalogue.version, "fingerprint": catalogue.fingerprint, "catalogue": body}


@router.put(
    "",
    response_model=CatalogueChangeView,
    summary="Replace the catalogue (admin; YAML or JSON). All errors are listed; nothing applies unless all is valid",
)
async def put_catalogue(request: Request, rt: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    if principal.role != "admin":
        raise ApiError(403, "forbidden", "only admin keys change the catalogue")
    data = catalogue_admin.parse_body(await request.body(), request.headers.get("content-type", ""))
    catalogue, summary, changed = await catalogue_admin.change(rt, data=data, changed_by=principal.name or "admin")
    return {"changed": changed, "version": catalogue.version, "fingerprint": catalogue.fingerprint, "summary": summary}


@router.get("/versions", response_model=list[CatalogueVersionView], summary="Catalogue versions, newest first")
async def list_versions(rt: Runtime, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    if principal.role in ("resident", "grid_worker"):
        raise ApiError(403, "forbidden", "catalogue history is for operators, street offices, departments and teams")
    return await catalogue_admin.versions(rt)
