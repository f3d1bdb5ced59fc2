"""SLA's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.sla import api, handlers
from services.sla.firing import TimerLoop
from services.sla.settings import SlaSettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: SlaSettings, *, clock: Clock | None = None) -> FastAPI:
    """SLA: arms deadlines, warns, marks breaches, escalates, computes the three rates."""
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)
    timers = TimerLoop(
        runtime,
        batch=settings.timer_batch,
        max_sleep=settings.timer_max_sleep,
        default_class=settings.default_sla_class,
    )
    runtime.state["timers"] = timers  # tests that move a ManualClock call `.wake()` on it

    async def timer_loop(_: ServiceRuntime) -> None:
        await timers.run()

    runtime.add_background(timer_loop)
    return build_app(runtime, title="lastmeter sla", routers=[api.router, api.rates_router])
