"""Failures that repeat identically: one poison event is dead-lettered after N tries and its partition
moves on; an outage, where every event fails alike, dead-letters nothing (real broker, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from shared.clock import SystemClock
from shared.consumer import EventConsumer
from shared.db import create_pool, migrate
from shared.events import CloudEvent, make_event
from shared.events.intake import NeedSubmitted
from shared.handlers import ConsumerSpec, HandlerContext
from shared.kafka import ensure_topics
from shared.outbox import Outbox
from tests.helpers import consumer_record, eventually

TRIES = 3
POISON = "case-poison"


def _need(case_id: str) -> CloudEvent:
    need = NeedSubmitted(
        case_id=case_id,
        category="street_light_out",
        description="路灯不亮了",
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime.now(UTC),
    )
    return make_event(need, source="/test", subject=case_id, time=datetime.now(UTC))


class Effects:
    """A handler that writes one row per case, raises OSError forever for the poison, and counts its calls."""

    def __init__(self, *, lock_timeout: str | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.lock_timeout = lock_timeout

    async def handle(self, ctx: HandlerContext[Any], envelope: CloudEvent, payload: Any) -> None:
        self.calls[envelope.subject] += 1
        if envelope.subject == POISON:
            raise OSError("[Errno 5] Input/output error: bad row 17")
        if self.lock_timeout:  # a statement that times out while someone holds the table
            await ctx.conn.execute(f"SET LOCAL lock_timeout = '{self.lock_timeout}'")
        await ctx.conn.execute("INSERT INTO effects (case_id) VALUES ($1)", envelope.subject)


@contextlib.asynccontextmanager
async def _schema(database_url: str) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    schema = f"t{uuid.uuid4().hex[:10]}_faults"
    await migrate(database_url, schema=schema, directories=[])
    pool = await create_pool(database_url, schema=schema, min_size=1, max_size=3)
    try:
        await pool.execute("CREATE TABLE effects (case_id text NOT NULL)")
        yield schema, pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(database_url)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


def _consumer(pool: asyncpg.Pool, schema: str, effects: Effects, *, bootstrap: str, topic: str) -> EventConsumer:
    spec: ConsumerSpec[Any] = ConsumerSpec(
        name="faults", topics=[topic], handlers={NeedSubmitted: effects.handle}, deps=None
    )
    return EventConsumer(
        spec=spec,
        bootstrap_servers=bootstrap,
        group_id=f"{schema}-group",
        topic_prefix="",
        pool=pool,
        outbox=Outbox(schema=schema, topic_prefix=""),
        clock=SystemClock(),
        rebalance_timeout_ms=1000,
        retry_attempts=TRIES,
    )


async def _produce(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    await ensure_topics(bootstrap, [topic], partitions=1)  # one partition: the poison stands in front
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, event.to_bytes(), key=event.subject.encode())
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def _running(consumer: EventConsumer) -> AsyncIterator[None]:
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def _effects(pool: asyncpg.Pool) -> list[str]:
    return sorted(r["case_id"] for r in await pool.fetch("SELECT case_id FROM effects"))


async def _all_of(pool: asyncpg.Pool, cases: list[str]) -> list[str] | None:
    """The effects once every case has one (for `eventually`), else None."""
    effects = await _effects(pool)
    return effects if set(effects) >= set(cases) else None


async def test_an_event_failing_identically_forever_is_dead_lettered_and_the_events_behind_it_flow(
    kafka_bootstrap: str, database_url: str
) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}_stall"
    behind = [f"case-{i}" for i in range(3)]
    await _produce(kafka_bootstrap, topic, [_need(POISON), *(_need(c) for c in behind)])
    effects = Effects()
    async with _schema(database_url) as (schema, pool):
        consumer = _consumer(pool, schema, effects, bootstrap=kafka_bootstrap, topic=topic)
        async with _running(consumer):
            query = 'SELECT reason, detail, "offset" FROM dead_letters'
            done = await eventually(lambda: pool.fetch(query), timeout=30)
            assert await eventually(lambda: _all_of(pool, behind)) == behind
        queued = await pool.fetch("SELECT headers FROM outbox")
    assert [(r["reason"], r["offset"]) for r in done] == [("retries-exhausted", 0)]
    assert "OSError: [Errno 5] Input/output error: bad row 17" in done[0]["detail"]
    assert f"{TRIES} identical failures" in done[0]["detail"]
    headers = orjson.loads(queued[0]["headers"])  # the dead letter waits in the outbox for the relay
    assert headers["dlq_reason"] == "retries-exhausted"
    assert "bad row 17" in headers["dlq_detail"]
    # The batch had its tries, then each careful pass tried the poison once: bounded, not for ever.
    assert effects.calls[POISON] == TRIES + TRIES


async def test_a_lone_event_failing_identically_while_the_database_answers_is_dead_lettered(
    database_url: str,
) -> None:
    effects = Effects()
    async with _schema(database_url) as (schema, pool):
        consumer = _consumer(pool, schema, effects, bootstrap="127.0.0.1:1", topic="intake.events")
        await asyncio.wait_for(consumer._apply_until_done([consumer_record("intake.events", 7, _need(POISON))]), 30)
        dead = await pool.fetch("SELECT reason FROM dead_letters")
    assert [r["reason"] for r in dead] == ["retries-exhausted"]


async def test_an_outage_where_every_event_fails_alike_waits_and_dead_letters_nothing(
    kafka_bootstrap: str, database_url: str
) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}_outage"
    cases = [f"case-{i}" for i in range(4)]
    await _produce(kafka_bootstrap, topic, [_need(c) for c in cases])
    effects = Effects(lock_timeout="50ms")
    async with _schema(database_url) as (schema, pool):
        holder = await asyncpg.connect(database_url)
        try:
            lock = holder.transaction()
            await lock.start()
            # The table is locked: every statement times out alike while the database still answers.
            await holder.execute(f"LOCK TABLE {schema}.effects IN ACCESS EXCLUSIVE MODE")
            consumer = _consumer(pool, schema, effects, bootstrap=kafka_bootstrap, topic=topic)
            async with _running(consumer):
                # Well past the point where one event would have been dead-lettered.
                tried = lambda: asyncio.sleep(0, min(effects.calls.values(), default=0) > 2 * TRIES)  # noqa: E731
                await eventually(tried, timeout=60)
                await lock.rollback()
                assert await eventually(lambda: _all_of(pool, cases), timeout=30) == cases
            dead = await pool.fetch("SELECT reason FROM dead_letters")
        finally:
            await holder.close()
    assert dead == []


async def test_connections_killed_for_a_while_dead_letter_nothing(kafka_bootstrap: str, database_url: str) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}_killed"
    cases = [f"case-{i}" for i in range(4)]
    effects = Effects()
    async with _schema(database_url) as (schema, pool):
        killer = await asyncpg.connect(database_url)
        try:
            consumer = _consumer(pool, schema, effects, bootstrap=kafka_bootstrap, topic=topic)
            async with _running(consumer):
                await _produce(kafka_bootstrap, topic, [_need(c) for c in cases])
                # PostgreSQL "restarting": every session of the consumer's pool is cut, for 3 s.
                loop = asyncio.get_running_loop()
                until = loop.time() + 3
                while loop.time() < until:
                    await killer.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", schema
                    )
                    await asyncio.sleep(0.02)
                assert await eventually(lambda: _all_of(pool, cases), timeout=30) == cases
            dead = await pool.fetch("SELECT reason FROM dead_letters")
        finally:
            await killer.close()
    assert dead == []


@pytest.mark.parametrize("tries", [1, 2])
async def test_a_handler_bug_among_passing_events_is_dead_lettered_as_handler_error(
    database_url: str, tries: int
) -> None:
    calls: Counter[str] = Counter()

    async def handle(ctx: HandlerContext[Any], envelope: CloudEvent, payload: Any) -> None:
        calls[envelope.subject] += 1
        if envelope.subject == POISON:
            raise KeyError("a bug")
        await ctx.conn.execute("INSERT INTO effects (case_id) VALUES ($1)", envelope.subject)

    async with _schema(database_url) as (schema, pool):
        spec: ConsumerSpec[Any] = ConsumerSpec(
            name="bug", topics=["intake.events"], handlers={NeedSubmitted: handle}, deps=None
        )
        consumer = EventConsumer(
            spec=spec,
            bootstrap_servers="127.0.0.1:1",
            group_id="bug",
            topic_prefix="",
            pool=pool,
            outbox=Outbox(schema=schema, topic_prefix=""),
            clock=SystemClock(),
            retry_attempts=tries,  # transient tries do not change a bug's three
        )
        records = [consumer_record("intake.events", i, _need(c)) for i, c in enumerate(["case-a", POISON, "case-b"])]
        await asyncio.wait_for(consumer._apply_until_done(records), 30)
        dead = await pool.fetch("SELECT reason, detail FROM dead_letters")
        assert await _effects(pool) == ["case-a", "case-b"]
    assert [r["reason"] for r in dead] == ["handler-error"]
    assert "KeyError" in dead[0]["detail"]
    assert calls[POISON] == 1 + 3  # the whole batch once, then three careful tries
