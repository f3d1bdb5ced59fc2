"""Notify's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notify import api, api_cases, api_dashboard, api_deliveries, api_desk, api_subscriptions, handlers
from services.notify.api_asyncapi import router as asyncapi_router
from services.notify.delivery import DeliveryWorker
from services.notify.hub import StreamHub
from services.notify.settings import NotifySettings
from services.notify.urlguard import Resolver, system_resolver
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


def create_app(settings: NotifySettings, *, clock: Clock | None = None, resolver: Resolver | None = None) -> FastAPI:
    """Notify: projects every case event, fans it out to audience topics, SSE, webhooks, e-mail and SMS.

    `resolver` answers webhook hosts' addresses (tests inject one; default: the system's).
    """
    runtime = ServiceRuntime(settings, migrations=Path(__file__).parent / "migrations", clock=clock)
    runtime.state["webhook_resolver"] = resolver or system_resolver
    for spec in handlers.consumers(runtime):
        runtime.add_consumer(spec)

    async def start_hub(rt: ServiceRuntime) -> None:
        rt.state["hub"] = StreamHub(pool=rt.pool, dsn=settings.database_url, channel=handlers.stream_channel(rt))
        await api.run_hub(rt)

    async def start_deliveries(rt: ServiceRuntime) -> None:
        worker = DeliveryWorker(
            pool=rt.pool,
            settings=settings,
            clock=rt.clock,
            catalogue=lambda: rt.catalogue,
            active_key_ids=rt.keys.active_key_ids,
            resolver=rt.state["webhook_resolver"],
        )
        rt.state["delivery_worker"] = worker
        await worker.run()

    runtime.add_background(start_hub)
    runtime.add_background(start_deliveries)
    return build_app(
        runtime,
        title="lastmeter notify",
        description="Fans every case update out to audience topics, SSE, webhooks, e-mail and SMS; "
        "serves the street office's live dashboard at /dashboard.",
        routers=[
            api.router,
            api_subscriptions.router,
            api_deliveries.router,
            api_cases.router,
            api_dashboard.router,
            api_desk.router,
            asyncapi_router,
        ],
    )
