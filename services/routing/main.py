"""Routing's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.routing import handlers
from services.routing.cases import api as cases_api
from services.routing.catalogue import api as catalogue_api
from services.routing.runtime import RoutingRuntime
from services.routing.settings import RoutingSettings
from shared.clock import Clock
from shared.runtime import NoExtras
from shared.service import ServiceRuntime, build_app


def create_app(settings: RoutingSettings, *, clock: Clock | None = None) -> FastAPI:
    """Routing: decides who acts on every need, runs the department and team workflow, keeps the catalogue."""
    runtime: RoutingRuntime = ServiceRuntime(
        settings, extras=NoExtras(), migrations=Path(__file__).parent / "migrations", clock=clock
    )
    runtime.add_consumers(handlers.consumers(runtime))
    return build_app(
        runtime,
        title="lastmeter routing",
        routers=[cases_api.router, catalogue_api.router],
        body_limits={"/v1/catalogue": settings.max_catalogue_bytes},
    )
