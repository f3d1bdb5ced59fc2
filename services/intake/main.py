"""Intake's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, handlers
from services.intake.settings import IntakeSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    """Intake: residents', grid workers' and 311 apps' needs come in here."""
    runtime = ServiceRuntime(
        settings,
        migrations=Path(__file__).parent / "migrations",
        consumers=handlers.consumers(),
        clock=clock,
    )
    return build_app(runtime, title="lastmeter intake", routers=[api.router])
