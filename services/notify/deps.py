"""Notify's typed runtime and the FastAPI dependencies its routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings
from shared.service import current_runtime

Rt = Annotated[NotifyRuntime, Depends(current_runtime)]
# deprecated: remove once api_desk.py uses Rt (the workbench engineer's file still imports this name).
Runtime = Rt


def settings_of(rt: NotifyRuntime) -> NotifySettings:
    """deprecated: remove once api_desk.py reads `rt.settings` (already typed as notify's)."""
    return rt.settings
