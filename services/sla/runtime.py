"""SLA's typed runtime: its extras (policy cache, unit of work, timer loop) and the handlers' deps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.sla.policy import PolicyCache
from services.sla.service_layer import SlaDeps, SlaUnitOfWork, timer_channel
from services.sla.settings import SlaSettings
from shared.runtime import Late
from shared.service import ServiceRuntime
from shared.uow import PgUnitOfWork

if TYPE_CHECKING:
    from services.sla.firing import TimerLoop


@dataclass
class SlaExtras:
    """What sla holds beside the shared runtime; built in main.py only."""

    policies: PolicyCache
    uow: Late[SlaUnitOfWork] = field(default_factory=lambda: Late("sla's unit of work"))  # needs the pool
    # Tests that move a ManualClock call `.get().wake()` on it.
    timers: Late[TimerLoop] = field(default_factory=lambda: Late("sla's timer loop"))


SlaRuntime = ServiceRuntime[SlaSettings, SlaExtras]


def uow_of(rt: SlaRuntime) -> SlaUnitOfWork:
    """sla's unit of work on the runtime's pool (made on first use, once the service has started)."""
    if not rt.extras.uow.ready:
        rt.extras.uow.set(PgUnitOfWork(rt.pool, rt.outbox, lambda conn: conn))
    return rt.extras.uow.get()


def sla_deps(rt: SlaRuntime) -> SlaDeps:
    """The deps sla's handlers and use cases get (the catalogue read live on each call)."""
    return SlaDeps(
        catalogue=lambda: rt.catalogue,
        policy_cache=rt.extras.policies,
        clock=rt.clock,
        max_sleep=rt.settings.timer_max_sleep,
        timer_channel=timer_channel(rt.settings.db_schema),
    )
