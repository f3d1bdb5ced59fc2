"""Bring the system under test up the way `make run` does, on fresh prefixes and free ports, and down again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import structlog

from bench.core import BenchStack
from shared.catalogue import load_catalogue
from shared.devstack import BrokerProcess, EmbeddedPostgres, free_port, start_broker
from shared.procs import ServiceGroup, ServiceProcess
from shared.provision import SERVICES, initialise
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


@dataclass
class Running:
    """A stack this process started: what the measures see, plus the handles to fault and stop it."""

    stack: BenchStack
    group: ServiceGroup
    env: dict[str, str]
    workdir: Path
    pg: EmbeddedPostgres | None = None
    broker: BrokerProcess | None = None
    procs: dict[str, ServiceProcess] = field(default_factory=dict)

    def start_service(self, name: str, *, port: int | None = None, key: str | None = None) -> ServiceProcess:
        """Start (or restart, on its old port) one service process; `key` names extra instances."""
        key = key or name
        old = self.procs.get(key)
        proc = self.group.start(name, port=port or (old.port if old else free_port()))
        self.procs[key] = proc
        if key == name:
            self.stack.urls[name] = proc.url
            self.stack.pids[name] = proc.process.pid
        return proc

    async def wait_ready(self, *names: str, within: float = 60.0) -> None:
        """Wait until the named services (all by default) answer /readyz with 200."""
        from shared.procs import http_ok

        deadline = asyncio.get_running_loop().time() + within
        pending = [self.procs[n] for n in (names or tuple(self.procs))]
        while pending:
            for proc in list(pending):
                if not proc.alive():
                    tail = proc.log_path.read_text(errors="replace")[-3000:] if proc.log_path else ""
                    raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}\n{tail}")
                if await asyncio.to_thread(http_ok, f"{proc.url}/readyz"):
                    pending.remove(proc)
            if pending and asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("not ready: " + ", ".join(p.name for p in pending))
            await asyncio.sleep(0.1)


def _home() -> Path:
    from shared.cli import HOME

    return HOME


@contextlib.asynccontextmanager
async def running_stack(
    *, quick: bool, label: str = "bench", services: tuple[str, ...] = SERVICES
) -> AsyncIterator[Running]:
    """Broker, PostgreSQL (embedded unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set), the services."""
    workdir = _home() / label / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = f"{label[:5]}{uuid.uuid4().hex[:8]}_"
    pg: EmbeddedPostgres | None = None
    pg_dir: Path | None = None
    broker: BrokerProcess | None = None
    group: ServiceGroup | None = None
    dsn = os.environ.get("DATABASE_URL", "")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    try:
        if not dsn:
            pg_dir = Path(tempfile.mkdtemp(prefix="lastmeter-bench-pg-"))
            pg = await asyncio.to_thread(EmbeddedPostgres, pg_dir / "data")
            dsn = pg.dsn
        if not bootstrap:
            broker = await asyncio.to_thread(start_broker, log_path=workdir / "broker.log")
            bootstrap = broker.bootstrap
        settings = ServiceSettings()
        keys = await initialise(
            dsn=dsn,
            bootstrap=bootstrap,
            catalogue=load_catalogue(settings.catalogue_path),
            keys_file=None,
            topic_prefix=prefix,
            schema_prefix=prefix,
        )
        env = {
            "DATABASE_URL": dsn,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "LASTMETER_TOPIC_PREFIX": prefix,
            "LASTMETER_SCHEMA_PREFIX": prefix,
            "LASTMETER_CATALOGUE_PATH": str(settings.catalogue_path),
            "LASTMETER_LOG_JSON": "true",
            "LASTMETER_WEBHOOK_ALLOW_LOOPBACK": "true",  # the bench's webhook receivers are local
            "LASTMETER_LOG_LEVEL": os.environ.get("LASTMETER_BENCH_LOG_LEVEL", "INFO"),
            # The load client is one address sending the busiest day: the per-address submission
            # limit stays on the path (every request still takes a token) but never refuses here.
            "LASTMETER_RATE_LIMIT_BURST": "1000000000",
            "LASTMETER_RATE_LIMIT_PER_MINUTE": "1000000000",
            "LASTMETER_TOKEN_SECRET": uuid.uuid4().hex + uuid.uuid4().hex,  # a random secret per bench run
            # The SSE measure holds a thousand streams with one street office key; the cap stays on the path.
            "LASTMETER_SSE_MAX_STREAMS_PER_KEY": "5000",
        }
        group = ServiceGroup(env=env, log_dir=workdir / "logs")
        stack = BenchStack(
            dsn=dsn, bootstrap=bootstrap, urls={}, keys=keys, topic_prefix=prefix, schema_prefix=prefix, quick=quick
        )
        running = Running(stack=stack, group=group, env=env, workdir=workdir, pg=pg, broker=broker)
        for name in services:
            running.start_service(name)
        await running.wait_ready()
        yield running
    finally:
        if group is not None:
            await asyncio.to_thread(group.stop_all)
        if pg is None and dsn:
            with contextlib.suppress(Exception):
                await drop_schemas(dsn, prefix)
        if broker is not None:
            broker.stop()
        if pg is not None:
            pg.stop()
        if pg_dir is not None:
            shutil.rmtree(pg_dir, ignore_errors=True)


async def drop_schemas(dsn: str, prefix: str) -> None:
    """Remove a run's schemas from a database this process did not start."""
    conn = await asyncpg.connect(dsn)
    try:
        for name in (*SERVICES, "auth", "bench"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}{name} CASCADE")
    finally:
        await conn.close()
