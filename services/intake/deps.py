"""FastAPI dependencies intake's routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.group_commit import SubmissionGroups
from services.intake.service_layer import Deps
from services.intake.settings import IntakeSettings
from shared.auth import Principal
from shared.http import ApiError, authenticate
from shared.service import Runtime as Runtime  # re-exported for the routes
from shared.service import ServiceRuntime
from shared.session import SESSION_COOKIE


def settings_of(rt: ServiceRuntime) -> IntakeSettings:
    """The runtime's settings as intake's own class (create_app only takes IntakeSettings)."""
    settings = rt.settings
    if not isinstance(settings, IntakeSettings):
        raise TypeError(f"intake needs IntakeSettings, got {type(settings).__name__}")
    return settings


def deps_of(rt: ServiceRuntime) -> Deps:
    """Use-case dependencies for one request; the catalogue is read live so a change applies at once."""
    return Deps(
        outbox=rt.outbox,
        catalogue=rt.catalogue,
        clock=rt.clock,
        threshold=settings_of(rt).classification_threshold,
        auth_schema=rt.auth_schema,
    )


SUBMISSION_GROUPS = "submission_groups"  # key in the runtime's state; set by create_app


def submission_groups_of(rt: ServiceRuntime) -> SubmissionGroups:
    """Where unkeyed submissions are gathered for group commit."""
    groups: SubmissionGroups = rt.state[SUBMISSION_GROUPS]
    return groups


async def _optional_principal(request: Request) -> Principal | None:
    """The caller when credentials are sent (401 if they are bad), None for anonymous residents."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        if SESSION_COOKIE not in request.cookies:
            return None
        # A staff session (hotline, grid worker on /r) files as staff; a resident's own session or a
        # stale cookie files the way anyone may, anonymously.
        try:
            principal = await authenticate(request)
        except ApiError:
            return None
        return None if principal.role == "resident" else principal
    return await authenticate(request)


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
