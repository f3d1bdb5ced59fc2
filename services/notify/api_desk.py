"""Serves the staff workbench `/desk` (plain HTML, JS and CSS from `desk/`) and what it needs to start.

The files leave with the dashboard's own headers (api_dashboard.security_headers); the policy's
`connect-src` names the intake, routing and sla origins the page calls with the session cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.cases import api as api_cases
from services.notify.deps import Runtime, settings_of
from services.notify.pages.api import TYPES, content_security_policy, security_headers
from shared.events.routing import DeclineReason
from shared.http import ApiError, CurrentPrincipal

router = APIRouter(tags=["desk"])
ASSETS = Path(__file__).parent / "desk"


class DeskSettings(BaseSettings):
    """Where the browser reaches intake and routing (`LASTMETER_DESK_INTAKE_URL`, `LASTMETER_DESK_ROUTING_URL`)."""

    model_config = SettingsConfigDict(env_prefix="LASTMETER_DESK_", extra="ignore")
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"

    @field_validator("intake_url", "routing_url")
    @classmethod
    def _an_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must be an http(s) URL such as https://routing.example.org")
        return value.rstrip("/")


_DESK: list[DeskSettings] = []


def desk_settings() -> DeskSettings:
    """The desk's URLs, read from the environment once."""
    if not _DESK:
        _DESK.append(DeskSettings())
    return _DESK[0]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _headers(rt: Runtime) -> dict[str, str]:
    desk = desk_settings()
    origins = " ".join(
        dict.fromkeys((settings_of(rt).dashboard_sla_origin, _origin(desk.intake_url), _origin(desk.routing_url)))
    )
    return {**security_headers(rt), "Content-Security-Policy": content_security_policy(origins)}


@router.get("/desk", include_in_schema=False)
async def desk(rt: Runtime) -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type=TYPES[".html"], headers=_headers(rt))


@router.get("/desk/{name}", include_in_schema=False)
async def asset(name: str, rt: Runtime) -> FileResponse:
    path = ASSETS / name
    if "/" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise ApiError(404, "not_found", f"no desk file {name}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=_headers(rt))


@router.get("/v1/desk/config", summary="What the workbench needs: the dashboard's config, service URLs, your team")
async def desk_config(rt: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    config = await api_cases.dashboard_config(rt, principal)
    desk = desk_settings()
    team = rt.catalogue.team(principal.scope) if principal.role == "team" and principal.scope else None
    return {
        **config,
        "intake_url": desk.intake_url,
        "routing_url": desk.routing_url,
        # Member names are personal data: only the team's own key sees its members.
        "team": None
        if team is None
        else {
            "code": team.code,
            "lead": team.lead,
            "members": [{"code": m.code, "name": m.name} for m in team.members],
        },
        "decline_reasons": list(get_args(DeclineReason)),
        # Where the communities the caller sees lie, for the dashboard's plan (no map tiles needed).
        "community_centres": [
            {"code": c.code, "lat": c.center.lat, "lon": c.center.lon}
            for c in rt.catalogue.communities
            if c.code in {x["code"] for x in config["communities"]}
        ],
    }
