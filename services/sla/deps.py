"""SLA's FastAPI dependencies: the typed runtime, its unit of work and the use cases' deps."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.sla.runtime import SlaRuntime, sla_deps, uow_of
from services.sla.service_layer import SlaDeps, SlaUnitOfWork
from shared.service import current_runtime

Rt = Annotated[SlaRuntime, Depends(current_runtime)]


async def _uow(rt: Rt) -> SlaUnitOfWork:
    return uow_of(rt)


async def _deps(rt: Rt) -> SlaDeps:
    return sla_deps(rt)


Uow = Annotated[SlaUnitOfWork, Depends(_uow)]
Deps = Annotated[SlaDeps, Depends(_deps)]
