"""Routing's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.routing import api, api_catalogue, handlers
from services.routing.settings import RoutingSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: RoutingSettings, *, clock: Clock | None = None) -> FastAPI:
    """Routing: decides who acts on every need, runs the department and team workflow, keeps the catalogue."""
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)
    return build_app(
        runtime,
        title="lastmeter routing",
        routers=[api.router, api_catalogue.router],
        body_limits={"/v1/catalogue": settings.max_catalogue_bytes},
    )
