"""Routing's catalogue routes: read it, change it (admin), list its versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request

from services.routing.catalogue import service_layer
from services.routing.catalogue.changes import InvalidCatalogue
from services.routing.catalogue.models import CatalogueChangeView, CatalogueVersionView, CatalogueView
from services.routing.deps import Rt, Uow
from shared.catalogue import CatalogueError, read_catalogue_text
from shared.http import ApiError, CurrentPrincipal, api_error_of, authenticate

router = APIRouter(prefix="/v1/catalogue", tags=["catalogue"])

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def parse_body(raw: bytes, content_type: str) -> Mapping[str, Any]:
    """The request body as plain data: JSON or YAML by content type (YAML when none is given)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in JSON_TYPES + YAML_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the catalogue as JSON ({', '.join(JSON_TYPES)}) or YAML ({', '.join(YAML_TYPES)})",
            fields=[{"field": "Content-Type", "message": f"{media} is not accepted"}],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid([("(body)", "not UTF-8 text")]) from None
    if media in JSON_TYPES:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise _invalid([("(body)", f"invalid JSON: {exc}")]) from None
    else:
        try:
            data = read_catalogue_text(text)
        except CatalogueError as err:
            raise _invalid([(p.location, p.message) for p in err.problems]) from None
    if not isinstance(data, Mapping):
        raise _invalid([("(root)", "the catalogue must be a mapping")])
    return data


def _invalid(problems: list[tuple[str, str]]) -> ApiError:
    """The request is not a catalogue at all: the same 422 a use case's InvalidCatalogue answers with."""
    return api_error_of(InvalidCatalogue(problems))


@router.get("", response_model=CatalogueView, summary="The catalogue in force (full=true: with personal data, admin)")
async def get_catalogue(request: Request, rt: Rt, full: bool = False) -> dict[str, Any]:
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
async def put_catalogue(request: Request, rt: Rt, uow: Uow, principal: CurrentPrincipal) -> dict[str, Any]:
    if principal.role != "admin":
        raise ApiError(403, "forbidden", "only admin keys change the catalogue")
    data = parse_body(await request.body(), request.headers.get("content-type", ""))
    catalogue, summary, changed = await service_layer.change(
        uow,
        data=data,
        changed_by=principal.name or "admin",
        in_force=lambda: rt.catalogue,
        apply=rt.apply_catalogue,
        clock=rt.clock,
        lock_key=f"{rt.settings.db_schema}:catalogue",
    )
    return {"changed": changed, "version": catalogue.version, "fingerprint": catalogue.fingerprint, "summary": summary}


@router.get("/versions", response_model=list[CatalogueVersionView], summary="Catalogue versions, newest first")
async def list_versions(rt: Rt, uow: Uow, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    if principal.role in ("resident", "grid_worker"):
        raise ApiError(403, "forbidden", "catalogue history is for operators, street offices, departments and teams")
    return await service_layer.versions(uow, in_force=rt.catalogue)
