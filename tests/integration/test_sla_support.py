"""What the sla integration tests share (no tests here): a manual clock, scripted events, sla's output."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.sla.main import create_app
from services.sla.settings import SlaSettings
from shared.clock import ManualClock
from shared.events import Assignee, EventData, make_event
from shared.events.routing import CaseRouted
from shared.topics import ROUTING_EVENTS, SLA_EVENTS
from tests.helpers import eventually, serving

# Monday 2 March 2026, 09:00 in Tianjin.
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
URBAN = Assignee(kind="department", code="urban_mgmt")
POWER = Assignee(kind="department", code="power")


def routed(case_id: str, *, at: datetime = T0, attempt: int = 1, assignee: Assignee = URBAN, **kw: Any) -> CaseRouted:
    """A `case routed` as routing would publish it (utilities class: sign 2h, feedback 4h, resolve 24h)."""
    fields: dict[str, Any] = {
        "case_id": case_id,
        "category": "street_light_out",
        "description": "路灯不亮",
        "community": "jinrongjie",
        "street": "wanxing",
        "assignee": assignee,
        "attempt": attempt,
        "sla_class": "utilities",
        "submitted_at": T0,
        "routed_at": at,
    }
    fields.update(kw)
    return CaseRouted(**fields)


class SlaHarness:
    """One test's broker topics, schema and manual clock, with helpers to drive and observe sla."""

    def __init__(self, *, bootstrap: str, dsn: str, prefix: str, make_settings: Callable[..., Any]) -> None:
        self.bootstrap = bootstrap
        self.dsn = dsn
        self.prefix = prefix
        self.clock = ManualClock(T0)
        self._make_settings = make_settings
        self.apps: list[Any] = []
        self._seen: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    def settings(self) -> SlaSettings:
        return self._make_settings(SlaSettings, timer_max_sleep=0.5)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[httpx.AsyncClient]:
        """An sla app in-process on this test's schema and clock."""
        app = create_app(self.settings(), clock=self.clock)
        self.apps.append(app)
        try:
            async with serving(app) as client:
                yield client
        finally:
            self.apps.remove(app)

    async def publish(self, *payloads: EventData, topic: str = ROUTING_EVENTS) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for payload in payloads:
                case_id = payload.case_id  # type: ignore[attr-defined]  # every event sla reads carries case_id; EventData does not declare it
                event = make_event(payload, source="/test", subject=case_id, time=self.clock.now())
                await producer.send_and_wait(f"{self.prefix}{topic}", value=event.to_bytes(), key=case_id.encode())
        finally:
            await producer.stop()

    def advance(self, delta: timedelta) -> None:
        """Move the clock and wake every running timer loop."""
        self.clock.advance(delta)
        for app in self.apps:
            app.state.runtime.extras.timers.get().wake()

    async def events(
        self, case_id: str | None = None, *, until: Callable[[list[dict[str, Any]]], bool], wait: float = 20
    ) -> list[dict[str, Any]]:
        """sla.events envelopes (of one case) from the start, once `until` holds for them."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever())

        async def probe() -> list[dict[str, Any]] | None:
            mine = [d for d in self._seen if case_id is None or d["subject"] == case_id]
            return mine if until(mine) else None

        return await eventually(probe, timeout=wait)

    async def _read_forever(self) -> None:
        """Tail sla.events (all partitions, no consumer group) into `_seen`."""
        topic = f"{self.prefix}{SLA_EVENTS}"
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            while not partitions:
                await consumer.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            await consumer.seek_to_beginning()
            while True:
                batch = await consumer.getmany(timeout_ms=100)
                for records in batch.values():
                    self._seen.extend(orjson.loads(r.value) for r in records)
        finally:
            await consumer.stop()

    async def close(self) -> None:
        """Stop the topic reader."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": f"{self.prefix}sla"})
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def processed(self, n: int) -> None:
        """Wait until sla's consumer applied at least `n` events (across its running apps)."""

        async def probe() -> bool:
            return sum(c.processed for app in self.apps for c in app.state.runtime.consumers) >= n

        await eventually(probe, timeout=20)


def of_type(events: list[dict[str, Any]], suffix: str, **match: Any) -> list[dict[str, Any]]:
    """Events whose type ends with `suffix` and whose data has the given values."""
    return [e for e in events if e["type"].endswith(suffix) and all(e["data"].get(k) == v for k, v in match.items())]


def count(suffix: str, n: int, **match: Any) -> Callable[[list[dict[str, Any]]], bool]:
    """A read_topic stop condition: at least `n` such events."""
    return lambda events: len(of_type(events, suffix, **match)) >= n


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


@asynccontextmanager
async def harness(
    make_settings: Callable[..., Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    """A harness for one test, its topic reader stopped afterwards."""
    sla = SlaHarness(bootstrap=kafka_bootstrap, dsn=database_url, prefix=prefix, make_settings=make_settings)
    try:
        yield sla
    finally:
        await sla.close()
