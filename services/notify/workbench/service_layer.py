"""What the workbench needs beyond the dashboard: where intake and routing are, the caller's team, the plan."""

from __future__ import annotations

from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.events.routing import DeclineReason


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


def connect_origins(sla_origin: str, desk: DeskSettings) -> str:
    """The origins the page may call besides its own: sla, intake and routing (each once)."""
    return " ".join(dict.fromkeys((sla_origin, _origin(desk.intake_url), _origin(desk.routing_url))))


def workbench_config(
    config: dict[str, Any], catalogue: Catalogue, principal: Principal, desk: DeskSettings
) -> dict[str, Any]:
    """The dashboard's `config` plus the service URLs, the caller's own team and where its communities lie."""
    team = catalogue.team(principal.scope) if principal.role == "team" and principal.scope else None
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
            for c in catalogue.communities
            if c.code in {x["code"] for x in config["communities"]}
        ],
    }
