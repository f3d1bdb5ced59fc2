"""Intake's one wiring point: settings → extras → runtime → consumers → app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake import handlers
from services.intake.deps import deps_of, uow_of
from services.intake.feedback import api as feedback_api
from services.intake.limits import Limiters
from services.intake.needs import api as needs_api
from services.intake.needs.group_commit import SubmissionGroups
from services.intake.open311 import api as open311_api
from services.intake.resident import api as resident_api
from services.intake.runtime import IntakeExtras, IntakeRuntime
from services.intake.settings import IntakeSettings
from services.intake.survey import api as survey_api
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: IntakeSettings, *, clock: Clock | None = None) -> FastAPI:
    """Intake: residents', grid workers', survey sheets' and 311 apps' needs come in here."""
    # The groups read the unit of work and the deps when they write: both exist only once the runtime runs.
    groups = SubmissionGroups(uow=lambda: uow_of(runtime), deps=lambda: deps_of(runtime))
    extras = IntakeExtras(submission_groups=groups, limiters=Limiters.of(settings))
    runtime: IntakeRuntime = ServiceRuntime(
        settings, extras=extras, migrations=Path(__file__).parent / "migrations", clock=clock
    )
    runtime.add_consumers(handlers.consumers(runtime))
    app = build_app(
        runtime,
        title="lastmeter intake",
        routers=[
            needs_api.router,
            feedback_api.router,
            survey_api.router,
            open311_api.router,
            resident_api.router,
        ],
        body_limits={survey_api.PATH: settings.survey_max_bytes},
        description="Needs in (native API, Open311 GeoReport v2, survey files), status and callbacks out.",
    )
    open311_api.install_error_handlers(app)
    return app
