"""Routing's typed runtime for routes, and the unit of work its use cases open."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.routing import runtime
from services.routing.runtime import RoutingRuntime, RoutingUoW
from shared.service import current_runtime

Rt = Annotated[RoutingRuntime, Depends(current_runtime)]


async def unit_of_work(rt: Rt) -> RoutingUoW:
    """The unit of work the use cases open their transaction on."""
    return runtime.unit_of_work(rt)


Uow = Annotated[RoutingUoW, Depends(unit_of_work)]
