"""Serves the staff workbench `/desk` (plain HTML, JS and CSS from `services/notify/desk/`) and its config route.

The files leave with the dashboard's own headers (pages.api.security_headers); the policy's
`connect-src` names the intake, routing and sla origins the page calls with the session cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.notify.cases import api as cases_api
from services.notify.deps import Rt
from services.notify.pages.api import TYPES, content_security_policy, security_headers
from services.notify.workbench.service_layer import connect_origins, desk_settings, workbench_config
from shared.http import ApiError, CurrentPrincipal

router = APIRouter(tags=["desk"])
ASSETS = Path(__file__).parent.parent / "desk"


def _headers(rt: Rt) -> dict[str, str]:
    origins = connect_origins(rt.settings.dashboard_sla_origin, desk_settings())
    return {**security_headers(rt), "Content-Security-Policy": content_security_policy(origins)}


@router.get("/desk", include_in_schema=False)
async def desk(rt: Rt) -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers=_headers(rt))


@router.get("/desk/{name}", include_in_schema=False)
async def asset(name: str, rt: Rt) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no desk file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=_headers(rt))


@router.get("/v1/desk/config", summary="What the workbench needs: the dashboard's config, service URLs, your team")
async def desk_config(rt: Rt, principal: CurrentPrincipal) -> dict[str, Any]:
    config = await cases_api.dashboard_config(rt, principal)
    return workbench_config(config, rt.catalogue, principal, desk_settings())
