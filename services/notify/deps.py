"""FastAPI dependencies notify's routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.notify.settings import NotifySettings
from shared.service import ServiceRuntime


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]


def settings_of(rt: ServiceRuntime) -> NotifySettings:
    """The runtime's settings, typed as notify's."""
    assert isinstance(rt.settings, NotifySettings)
    return rt.settings
