"""Notify's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notify import api, handlers
from services.notify.hub import StreamHub
from services.notify.settings import NotifySettings
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: NotifySettings, *, clock: Clock | None = None) -> FastAPI:
    """Notify: fans every update out to audience topics, SSE clients and (later) webhooks."""
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)

    async def start_hub(rt: ServiceRuntime) -> None:
        rt.state["hub"] = StreamHub(pool=rt.pool, dsn=settings.database_url, channel=handlers.stream_channel(rt))
        await api.run_hub(rt)

    runtime.add_background(start_hub)
    return build_app(runtime, title="lastmeter notify", routers=[api.router])
