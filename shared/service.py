"""The one lifecycle every service shares: migrate, pool, producer, relay, consumers, HTTP.

A service's `main.py` is its only wiring point: it names its settings, migrations, consumers
and routers, and hands them to `build_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import structlog
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from shared.auth import KeyStore
from shared.catalogue import Catalogue, load_catalogue
from shared.catalogue_sync import follow_catalogue, latest_stored
from shared.clock import Clock, SystemClock
from shared.consumer import EventConsumer
from shared.db import create_pool, migrate
from shared.handlers import ConsumerSpec
from shared.http import BodyLimitMiddleware, RequestContextMiddleware, install_error_handlers
from shared.kafka import make_producer
from shared.logging import configure_logging
from shared.outbox import Outbox, OutboxRelay
from shared.session import CSRF_HEADER
from shared.settings import ServiceSettings
from shared.topics import CATALOGUE_EVENTS

log = structlog.get_logger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
# The service's own typed singletons (caches, the SSE hub, timers...), a dataclass built in its main.py.
ExtrasT = TypeVar("ExtrasT")
# Extra background work a service runs beside its consumers (e.g. SLA timers); gets the runtime.
BackgroundTask = Callable[["ServiceRuntime[Any, Any]"], Awaitable[None]]
# What a runtime built the old way (without extras=) holds as `extras`.
AUTH_MIGRATIONS = Path(__file__).parent / "auth_migrations"
# Each shutdown step (background tasks, consumers, producer, pool) gets this long, then is abandoned.
STOP_STEP_SECONDS = 1.5


class ServiceRuntime(Generic[SettingsT, ExtrasT]):
    """Everything one service process holds while it runs: typed settings, shared clients, the service's extras."""

    def __init__(
        self,
        settings: SettingsT,
        *,
        migrations: Path | None,
        extras: ExtrasT,
        consumers: Sequence[ConsumerSpec[Any]] = (),
        background: Sequence[BackgroundTask] = (),
        clock: Clock | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.settings: SettingsT = settings
        self.extras: ExtrasT = extras
        self.clock: Clock = clock or SystemClock()
        self.catalogue: Catalogue = catalogue or load_catalogue(settings.catalogue_path)
        self.outbox = Outbox(schema=settings.db_schema, topic_prefix=settings.topic_prefix)
        self._migrations = migrations
        self._specs = list(consumers)
        self._background = list(background)
        self._tasks: list[asyncio.Task[None]] = []
        self.consumers: list[EventConsumer] = []
        self.pool: asyncpg.Pool
        self.keys: KeyStore
        self.producer: AIOKafkaProducer
        self.relay: OutboxRelay

    @property
    def auth_schema(self) -> str:
        return f"{self.settings.schema_prefix}auth"

    async def start(self) -> None:
        """Migrate, connect and start the relay, consumers and background tasks."""
        s = self.settings
        await migrate(s.database_url, schema=self.auth_schema, directories=[AUTH_MIGRATIONS])
        await migrate(s.database_url, schema=s.db_schema, directories=[self._migrations] if self._migrations else [])
        self.pool = await create_pool(
            s.database_url, schema=s.db_schema, min_size=s.db_pool_min, max_size=s.db_pool_max
        )
        stored = await latest_stored(self.pool)
        if stored is not None and stored.version > self.catalogue.version:
            self.catalogue = stored
        self.keys = KeyStore(pool=self.pool, auth_schema=self.auth_schema, clock=self.clock)
        self.producer = make_producer(s.kafka_bootstrap_servers, client_id=s.service)
        await self.producer.start()
        self.relay = OutboxRelay(pool=self.pool, dsn=s.database_url, producer=self.producer, outbox=self.outbox)
        self._spawn(self.relay.run(), "outbox-relay")
        self._spawn(
            follow_catalogue(
                bootstrap_servers=s.kafka_bootstrap_servers,
                topic=s.topic(CATALOGUE_EVENTS),
                pool=self.pool,
                current=lambda: self.catalogue,
                apply=self.apply_catalogue,
            ),
            "catalogue-follower",
        )
        for spec in self._specs:
            consumer = EventConsumer(
                spec=spec,
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=f"{s.consumer_group}.{spec.name}",
                topic_prefix=s.topic_prefix,
                pool=self.pool,
                outbox=self.outbox,
                clock=self.clock,
                batch_size=s.consumer_batch,
                rebalance_timeout_ms=s.kafka_rebalance_timeout_ms,
                fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
                retry_attempts=s.consumer_retry_attempts,
            )
            await consumer.start()
            self.consumers.append(consumer)
            self._spawn(consumer.run(), f"consumer-{spec.name}")
        for task in self._background:
            self._spawn(task(self), getattr(task, "__name__", "background"))
        log.info("service started", port=s.port, schema=s.db_schema, consumers=[c.spec.name for c in self.consumers])

    def apply_catalogue(self, catalogue: Catalogue) -> None:
        """Swap in a new catalogue version (handlers read `runtime.catalogue` on every event)."""
        self.catalogue = catalogue

    def add_consumer(self, spec: ConsumerSpec[Any]) -> None:
        """Register a consumer before start (handlers often need the runtime itself)."""
        self._specs.append(spec)

    def add_consumers(self, specs: Sequence[ConsumerSpec[Any]]) -> None:
        """Register what the service's `handlers.consumers(rt)` returns, before start."""
        self._specs.extend(specs)

    def add_background(self, task: BackgroundTask) -> None:
        """Register extra background work before start."""
        self._background.append(task)

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Stop background work first, then the clients it used; each step bounded (STOP_STEP_SECONDS)."""
        # Bounded because the database or the broker may already be gone: a shutdown must not
        # wait on reconnects (the orchestrator or the kubelet would SIGKILL us mid-way instead).
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_STEP_SECONDS)
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), STOP_STEP_SECONDS)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer.stop(), STOP_STEP_SECONDS)
        try:
            await asyncio.wait_for(self.pool.close(), STOP_STEP_SECONDS)
        except Exception:
            self.pool.terminate()

    async def readiness(self) -> dict[str, str]:
        """Check the database and the broker; each value is 'ok' or the failure."""
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                await self.pool.fetchval("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            async with asyncio.timeout(2):
                await self.producer.client.fetch_all_metadata()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        return checks


async def current_runtime(request: Request) -> ServiceRuntime[Any, Any]:
    """The running service's runtime (async, so FastAPI does not hop to a thread for it).

    Each service's deps.py types it once: `Rt = Annotated[IntakeRuntime, Depends(current_runtime)]`.
    """
    runtime: ServiceRuntime[Any, Any] = request.app.state.runtime
    return runtime


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task died", task=task.get_name(), error=repr(task.exception()))


def build_app(
    runtime: ServiceRuntime[Any, Any],
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    body_limits: dict[str, int] | None = None,
    description: str = "",
) -> FastAPI:
    """A FastAPI app with health, readiness, errors and body limits around the service's routers."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    origins = runtime.settings.cors_origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        # The session cookie crosses origins only to origins named one by one: with "*" no credentials.
        allow_credentials="*" not in origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", CSRF_HEADER],
    )
    app.add_middleware(BodyLimitMiddleware, default_limit=runtime.settings.max_body_bytes, limits=body_limits)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/healthz", tags=["ops"], summary="Process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.settings.service}

    @app.get("/readyz", tags=["ops"], summary="Database and broker reachable (503 otherwise)")
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    for router in routers:
        app.include_router(router)
    return app


def serve(app_factory: Callable[[SettingsT], FastAPI], settings: SettingsT) -> None:
    """Run one service process under uvicorn (the entry point `python -m services.<name>` uses)."""
    configure_logging(service=settings.service, level=settings.log_level, json=settings.log_json)
    app = app_factory(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # Open SSE streams hold a graceful shutdown until this runs out; clients resume with Last-Event-ID.
        timeout_graceful_shutdown=3,
    )
