"""Intake's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake import api, api_resident_page, feedback_api, handlers, open311_api, survey_api
from services.intake.deps import SUBMISSION_GROUPS, deps_of
from services.intake.group_commit import SubmissionGroups
from services.intake.settings import IntakeSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    """Intake: residents', grid workers', survey sheets' and 311 apps' needs come in here."""
    runtime = ServiceRuntime(
        settings,
        migrations=Path(__file__).parent / "migrations",
        consumers=handlers.consumers(
            auth_schema=f"{settings.schema_prefix}auth", token_retention=settings.resident_token_retention
        ),
        clock=clock,
    )
    runtime.state[SUBMISSION_GROUPS] = SubmissionGroups(pool=lambda: runtime.pool, deps=lambda: deps_of(runtime))
    app = build_app(
        runtime,
        title="lastmeter intake",
        routers=[api.router, feedback_api.router, survey_api.router, open311_api.router, api_resident_page.router],
        body_limits={survey_api.PATH: settings.survey_max_bytes},
        description="Needs in (native API, Open311 GeoReport v2, survey files), status and callbacks out.",
    )
    open311_api.install_error_handlers(app)
    return app
