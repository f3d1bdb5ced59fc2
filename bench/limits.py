"""The limits every pipeline figure is compared with, measured on the same broker, database and client."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench import loadgen
from bench.core import BenchStack, Figure
from bench.needs import need, need_body
from bench.stats import rate
from shared.devstack import free_port, wait_for_port
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.kafka import ensure_topics, make_producer
from shared.topics import PARTITIONS


@dataclass
class Limits:
    """The limit rates later figures are divided by."""

    broker: float = float("nan")  # msg/s, produce → consume
    bare: float = float("nan")  # req/s
    client: float = float("nan")  # req/s


def sample_event(seq: int = 0) -> bytes:
    """A NeedSubmitted envelope as intake writes it: the message size every broker figure uses."""
    body = need(seq)
    event = NeedSubmitted(
        case_id=str(uuid.uuid4()),
        category=str(body["category"]),
        description=str(body["description"]),
        community=str(body["community"]),
        street="wanxing",
        location=body["location"],  # type: ignore[arg-type]
        address=str(body["address"]),
        submitted_at=datetime.now(UTC),
    )
    return make_event(event, source="/lastmeter/intake", subject=event.case_id, time=event.submitted_at).to_bytes()


async def broker_rate(stack: BenchStack, *, count: int) -> list[Figure]:
    """Raw aiokafka: produce `count` intake-sized messages (acks=all) while a consumer reads them back."""
    topic = f"{stack.topic_prefix}bench.raw"
    await ensure_topics(stack.bootstrap, [topic], partitions=PARTITIONS)
    payload = sample_event()
    keys = [str(uuid.uuid4()).encode() for _ in range(256)]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    producer = make_producer(stack.bootstrap, client_id="bench-raw")
    await producer.start()
    try:
        received = 0
        last = 0.0

        async def consume() -> None:
            nonlocal received, last
            while received < count:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                received += sum(len(v) for v in batch.values())
                last = time.perf_counter()

        reader = asyncio.create_task(consume())
        started = time.perf_counter()
        pending = []
        for i in range(count):
            pending.append(await producer.send(topic, payload, key=keys[i % len(keys)]))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        produced = time.perf_counter() - started
        await asyncio.wait_for(reader, 120)
        both = last - started
    finally:
        await producer.stop()
        await consumer.stop()
    note = f"{count} messages of {len(payload)} B, acks=all, {PARTITIONS} partitions, one producer and one consumer"
    await _delete_topic(stack.bootstrap, topic)
    return [
        Figure("limit: broker produce (acks=all)", rate(count, produced), "msg/s", note=note),
        Figure("limit: broker produce → consume", rate(count, both), "msg/s", note=note),
    ]


async def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    except Exception:
        pass  # leaving a scratch topic behind is harmless
    finally:
        await admin.close()


async def postgres_rates(stack: BenchStack, *, rows: int, singles: int) -> list[Figure]:
    """Raw asyncpg: batched inserts (1,000 rows a transaction), and single-row commits from 32 connections."""
    schema = f"{stack.schema_prefix}bench"
    conn = await asyncpg.connect(stack.dsn)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE {schema}.rows (case_id text PRIMARY KEY, category text, description text NOT NULL, "
            "community text NOT NULL, lat double precision, lon double precision, payload bytea, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        body = need_body(0)
        started = time.perf_counter()
        for start in range(0, rows, 1000):
            n = min(1000, rows - start)
            ids = [str(uuid.uuid4()) for _ in range(n)]
            async with conn.transaction():
                await conn.execute(
                    f"INSERT INTO {schema}.rows (case_id, category, description, community, lat, lon, payload) "
                    "SELECT unnest($1::text[]), 'street_light_out', 'bench', 'jinrongjie', 39.1, 117.2, $2",
                    ids,
                    body,
                )
        batched = time.perf_counter() - started
    finally:
        await conn.close()

    pool = await asyncpg.create_pool(stack.dsn, min_size=32, max_size=32)
    try:
        counter = iter(range(singles))

        async def worker() -> None:
            async with pool.acquire() as c:
                for _ in counter:
                    async with c.transaction():
                        await c.execute(
                            f"INSERT INTO {schema}.rows (case_id, description, community, payload) "
                            "VALUES ($1, 'bench', 'jinrongjie', $2)",
                            str(uuid.uuid4()),
                            body,
                        )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        single = time.perf_counter() - started
    finally:
        await pool.close()
    return [
        Figure("limit: postgres batched insert", rate(rows, batched), "rows/s", note="1,000 rows per transaction"),
        Figure(
            "limit: postgres single-row commits",
            rate(singles, single),
            "commits/s",
            note="32 connections, one row per transaction (what a durable 202 costs at least)",
        ),
    ]


async def client_alone(*, total: int, concurrency: int) -> Figure:
    """The load client against a canned in-process responder: the most it can send."""
    async with loadgen.responder() as port:
        result = await loadgen.run_closed(
            "127.0.0.1", port, "/v1/needs", need_body, total=total, concurrency=concurrency
        )
    return Figure(
        "limit: load client alone",
        rate(result.count(202), result.seconds),
        "req/s",
        note=f"{concurrency} keep-alive connections; responder shares the client's process and core, so a lower bound",
    )


async def bare_endpoint(*, total: int, concurrency: int) -> Figure:
    """A bare FastAPI validate-and-return endpoint (intake's need model) as its own uvicorn process."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare_app",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port, timeout=30)
        await loadgen.run_closed("127.0.0.1", port, "/v1/needs", need_body, total=200, concurrency=8)  # warm up
        result = await loadgen.run_closed(
            "127.0.0.1", port, "/v1/needs", need_body, total=total, concurrency=concurrency
        )
    finally:
        process.terminate()
        await process.wait()
    if result.count(202) != total:
        raise RuntimeError(f"bare endpoint answered {dict(result.statuses)}")
    return Figure(
        "limit: bare FastAPI validate-and-return",
        rate(total, result.seconds),
        "req/s",
        note=f"one uvicorn process, {concurrency} keep-alive connections, {total} requests",
    )


async def measure_limits(stack: BenchStack, limits: Limits) -> list[Figure]:
    """Every limit, filling `limits` for the ratios that follow."""
    quick = stack.quick
    figures: list[Figure] = []
    client = await client_alone(total=10_000 if quick else 100_000, concurrency=64)
    limits.client = client.value
    figures.append(client)
    bare = await bare_endpoint(total=3_000 if quick else 30_000, concurrency=64)
    limits.bare = bare.value
    figures.append(bare)
    broker = await broker_rate(stack, count=20_000 if quick else 200_000)
    limits.broker = broker[1].value
    figures += broker
    figures += await postgres_rates(stack, rows=20_000 if quick else 200_000, singles=2_000 if quick else 20_000)
    return figures
