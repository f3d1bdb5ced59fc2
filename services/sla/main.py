"""SLA's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.sla import api, handlers
from services.sla.settings import SlaSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: SlaSettings, *, clock: Clock | None = None) -> FastAPI:
    """SLA: arms deadlines, warns, marks breaches, escalates, computes the three rates."""
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)
    return build_app(runtime, title="lastmeter sla", routers=[api.router])
