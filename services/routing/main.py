"""Routing's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.routing import handlers
from services.routing.settings import RoutingSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: RoutingSettings, *, clock: Clock | None = None) -> FastAPI:
    """Routing: decides who acts on every need."""
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)
    return build_app(runtime, title="lastmeter routing")
