"""FastAPI dependencies notify's routers share."""

from __future__ import annotations

from services.notify.settings import NotifySettings
from shared.service import Runtime as Runtime  # re-exported for the routes
from shared.service import ServiceRuntime


def settings_of(rt: ServiceRuntime) -> NotifySettings:
    """The runtime's settings, typed as notify's."""
    assert isinstance(rt.settings, NotifySettings)
    return rt.settings
