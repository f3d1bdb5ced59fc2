"""Notify's one wiring point."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notify import handlers
from services.notify.asyncapi.api import router as asyncapi_router
from services.notify.cases import api as cases_api
from services.notify.deliveries import api as deliveries_api
from services.notify.delivery import DeliveryWorker
from services.notify.pages import api as pages_api
from services.notify.runtime import NotifyExtras, NotifyRuntime, channel_env
from services.notify.settings import NotifySettings
from services.notify.stream import api as stream_api
from services.notify.stream.hub import StreamHub
from services.notify.subscriptions import api as subscriptions_api
from services.notify.urlguard import Resolver, system_resolver
from services.notify.workbench import api as workbench_api
from shared.clock import Clock
from shared.service import ServiceRuntime, build_app


async def start_hub(rt: NotifyRuntime) -> None:
    """Background task: this process's stream hub, made once the pool exists."""
    hub = StreamHub(pool=rt.pool, dsn=rt.settings.database_url, channel=handlers.stream_channel(rt.settings))
    rt.extras.hub.set(hub)
    await stream_api.run_hub(rt)


async def start_deliveries(rt: NotifyRuntime) -> None:
    """Background task: this process's delivery worker pool."""
    worker = DeliveryWorker(
        pool=rt.pool,
        settings=rt.settings,
        clock=rt.clock,
        catalogue=lambda: rt.catalogue,
        active_key_ids=rt.keys.active_key_ids,
        env=channel_env(rt),
    )
    rt.extras.delivery_worker.set(worker)
    await worker.run()


def create_app(settings: NotifySettings, *, clock: Clock | None = None, resolver: Resolver | None = None) -> FastAPI:
    """Notify: projects every case event, fans it out to audience topics, SSE, webhooks, e-mail and SMS.

    `resolver` answers webhook hosts' addresses (tests inject one; default: the system's).
    """
    extras = NotifyExtras(webhook_resolver=resolver or system_resolver)
    runtime: NotifyRuntime = ServiceRuntime(
        settings, extras=extras, migrations=Path(__file__).parent / "migrations", clock=clock
    )
    runtime.add_consumers(handlers.consumers(runtime))
    runtime.add_background(start_hub)
    runtime.add_background(start_deliveries)
    return build_app(
        runtime,
        title="lastmeter notify",
        description="Fans every case update out to audience topics, SSE, webhooks, e-mail and SMS; "
        "serves the street office's live dashboard at /dashboard.",
        routers=[
            stream_api.router,
            subscriptions_api.router,
            deliveries_api.router,
            cases_api.router,
            pages_api.router,
            workbench_api.router,
            asyncapi_router,
        ],
    )
