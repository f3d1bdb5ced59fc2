"""SLA's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.sla import api, handlers
from services.sla.firing import TimerLoop
from services.sla.policy import PolicyCache
from services.sla.runtime import SlaExtras, SlaRuntime
from services.sla.settings import SlaSettings
from services.sla.watermarks import keep_watermarks
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: SlaSettings, *, clock: Clock | None = None) -> FastAPI:
    """SLA: arms deadlines, warns, marks breaches, escalates, computes the three rates."""
    extras = SlaExtras(policies=PolicyCache(default_class=settings.default_sla_class))
    rt: SlaRuntime = ServiceRuntime(
        settings, extras=extras, migrations=Path(__file__).parent / "migrations", clock=clock
    )
    rt.add_consumers(handlers.consumers(rt))
    timers = TimerLoop(rt, topics=handlers.INPUT_TOPICS, batch=settings.timer_batch, max_sleep=settings.timer_max_sleep)
    extras.timers.set(timers)

    async def timer_loop(_: object) -> None:
        await timers.run()

    async def watermarks(_: object) -> None:
        await keep_watermarks(rt)

    rt.add_background(timer_loop)
    rt.add_background(watermarks)
    return build_app(rt, title="lastmeter sla", routers=[api.router, api.rates_router])
