"""Pipeline figures: intake's durable rate, a megacity's busiest day, latency at 500 needs/s, memory."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench import loadgen
from bench.core import BenchStack, Figure
from bench.limits import Limits
from bench.needs import need, need_body
from bench.stats import judge, percentile, rate, ratio
from shared.catalogue import load_catalogue
from shared.db import create_pool
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.outbox import Outbox
from shared.settings import ServiceSettings
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS

BUSIEST_DAY = 100_000
DAY_SECONDS_TARGET = 30.0
ROUTED = "lastmeter.case.routed"
SUBMITTED = "lastmeter.need.submitted"


def _target(name: str, value: float, unit: str, target: str, note: str = "") -> Figure:
    return Figure(name, value, unit, target=target, met=judge(value, target, unit), note=note)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


class Sequence:
    """Hands out fresh need numbers so no two phases submit the same need."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> int:
        start, self.next = self.next, self.next + n
        return start


async def intake_rate(stack: BenchStack, limits: Limits, seq: Sequence) -> list[Figure]:
    """Intake's durable single-request rate (202 after commit), beside the bare endpoint's."""
    total = 2_000 if stack.quick else 30_000
    host, port = _host_port(stack.urls["intake"])
    base = seq.take(total + 200)
    await loadgen.run_closed(host, port, "/v1/needs", lambda i: need_body(base + i), total=200, concurrency=8)
    result = await loadgen.run_closed(
        host, port, "/v1/needs", lambda i: need_body(base + 200 + i), total=total, concurrency=64
    )
    accepted = result.count(202)
    if accepted != total:
        raise RuntimeError(f"intake answered {dict(result.statuses)}")
    value = rate(accepted, result.seconds)
    lat = result.latencies(202)
    return [
        Figure("intake durable single requests", value, "req/s", note=f"{total} requests, 64 keep-alive connections"),
        _target(
            "intake durable / bare endpoint",
            ratio(value, limits.bare),
            "×",
            "≥ 0.5",
            note=f"202 p50 {percentile(lat, 50) * 1e3:.1f} ms, p99 {percentile(lat, 99) * 1e3:.1f} ms at 64 in flight",
        ),
    ]


async def pipeline_counts(pool: asyncpg.Pool, prefix: str) -> dict[str, int]:
    """Rows each stage has written so far, read from the services' own schemas."""
    row = await pool.fetchrow(
        f"""SELECT
            (SELECT count(*) FROM {prefix}intake.cases) AS submitted,
            (SELECT count(*) FROM {prefix}intake.cases WHERE status <> 'submitted') AS intake_routed,
            (SELECT count(*) FROM {prefix}routing.cases) AS routed,
            (SELECT count(*) FROM {prefix}sla.deadlines) AS armed,
            (SELECT count(*) FROM {prefix}notify.stream) AS notified"""
    )
    assert row is not None
    return dict(row)


# What one routed need leaves behind: sla arms response, first-feedback and resolution deadlines,
# and notify streams `need submitted`, `case routed` and one `deadline armed` per deadline.
DEADLINES_PER_NEED = 3
STREAM_EVENTS_PER_NEED = 2 + DEADLINES_PER_NEED


def drained(now: dict[str, int], base: dict[str, int], n: int) -> bool:
    """Whether `n` more needs than at `base` went all the way: routed, every deadline armed and streamed."""
    return (
        now["intake_routed"] - base["intake_routed"] >= n
        and now["routed"] - base["routed"] >= n
        and now["armed"] - base["armed"] >= DEADLINES_PER_NEED * n
        and now["notified"] - base["notified"] >= STREAM_EVENTS_PER_NEED * n
    )


async def _counted(pool: asyncpg.Pool, prefix: str, *, least: float) -> dict[str, int]:
    """The counts, then a pause of at least `least` s and at least ten times what counting took.

    Counting scans every stage's table (a million rows after a busiest day): polled at a fixed
    quarter second, the checker itself would take a good part of a core from what it measures.
    """
    started = time.perf_counter()
    counts = await pipeline_counts(pool, prefix)
    await asyncio.sleep(max(least, 10 * (time.perf_counter() - started)))
    return counts


async def settle(pool: asyncpg.Pool, prefix: str, *, quiet_for: float = 3.0, within: float = 240.0) -> float:
    """Wait until no stage writes anything for `quiet_for` s, so one measure's backlog does not skew the next."""
    started = time.perf_counter()
    last = await _counted(pool, prefix, least=0.5)
    quiet_since = time.perf_counter()
    while time.perf_counter() - started < within:
        counts = await _counted(pool, prefix, least=0.5)
        if counts != last:
            last, quiet_since = counts, time.perf_counter()
        elif time.perf_counter() - quiet_since >= quiet_for:
            break
    return time.perf_counter() - started


async def wait_drained(pool: asyncpg.Pool, prefix: str, base: dict[str, int], n: int, *, within: float) -> float:
    """Poll until drained; returns the perf_counter time it was seen (raises with the counts on timeout)."""
    deadline = time.perf_counter() + within
    while True:
        asked = time.perf_counter()
        counts = await pipeline_counts(pool, prefix)
        if drained(counts, base, n):
            return asked  # the counts are as of the query's start
        if time.perf_counter() > deadline:
            progress = {k: counts[k] - base[k] for k in counts}
            raise TimeoutError(f"not drained after {within:.0f}s: {progress} of {n}")
        # Ten times what counting took (see `_counted`): the checker takes under a tenth of a core,
        # and the drain time is still known to within about a second after a busiest day.
        await asyncio.sleep(max(0.25, 10 * (time.perf_counter() - asked)))


async def _busiest_day(
    stack: BenchStack, limits: Limits, pool: asyncpg.Pool, n: int, how: str, submit: Callable[[], Awaitable[float]]
) -> list[Figure]:
    base = await pipeline_counts(pool, stack.schema_prefix)
    started = time.perf_counter()
    submitted_at = await submit()
    done = await wait_drained(pool, stack.schema_prefix, base, n, within=45.0 if stack.quick else max(180.0, n / 200))
    seconds = done - started
    target_s = DAY_SECONDS_TARGET * n / BUSIEST_DAY
    scaled = "" if n == BUSIEST_DAY else f" (30 s scaled to {n:,} needs)"
    needs_per_s = rate(n, seconds)
    return [
        _target(
            f"busiest day via {how}: {n:,} needs drained",
            seconds,
            "s",
            f"≤ {target_s:g} s",
            note=f"submission took {submitted_at - started:.1f} s{scaled}",
        ),
        _target(
            f"busiest day via {how}: throughput",
            needs_per_s,
            "needs/s",
            f"≥ {BUSIEST_DAY / DAY_SECONDS_TARGET:.0f}",
            note="submission → routed, three deadlines armed, five events on the notify stream",
        ),
        Figure(
            f"busiest day via {how} / raw broker rate",
            ratio(needs_per_s, limits.broker),
            "×",
            note="needs/s over the raw produce → consume msg/s; each need is ~9 broker messages here",
        ),
    ]


async def busiest_day_http(stack: BenchStack, limits: Limits, seq: Sequence, pool: asyncpg.Pool) -> list[Figure]:
    """N needs through intake's HTTP API at 128 in flight, then until every stage has them."""
    n = BUSIEST_DAY // 50 if stack.quick else BUSIEST_DAY
    host, port = _host_port(stack.urls["intake"])
    base = seq.take(n)

    async def submit() -> float:
        result = await loadgen.run_closed(
            host, port, "/v1/needs", lambda i: need_body(base + i), total=n, concurrency=128
        )
        if result.count(202) != n:
            raise RuntimeError(f"intake answered {dict(result.statuses)}")
        return time.perf_counter()

    return await _busiest_day(stack, limits, pool, n, "HTTP", submit)


async def busiest_day_bulk(stack: BenchStack, limits: Limits, seq: Sequence) -> list[Figure]:
    """The same day written straight into intake's tables and outbox, 1,000 per transaction (HTTP taken out)."""
    n = BUSIEST_DAY // 20 if stack.quick else BUSIEST_DAY
    base = seq.take(n)
    prefix = stack.schema_prefix
    catalogue = load_catalogue(ServiceSettings().catalogue_path)
    outbox = Outbox(schema=f"{prefix}intake", topic_prefix=stack.topic_prefix)
    intake_pool = await create_pool(stack.dsn, schema=f"{prefix}intake", min_size=1, max_size=2)
    count_pool = await asyncpg.create_pool(stack.dsn, min_size=1, max_size=2)

    async def submit() -> float:
        for start in range(0, n, 1000):
            rows, messages = [], []
            now = time.time()
            for i in range(start, min(n, start + 1000)):
                body = need(base + i, tag="bulk")
                street = catalogue.street_of_community(str(body["community"]))
                assert street is not None
                event = NeedSubmitted(
                    case_id=str(uuid.uuid4()),
                    category=str(body["category"]),
                    description=str(body["description"]),
                    community=str(body["community"]),
                    street=street.code,
                    location=body["location"],  # type: ignore[arg-type]
                    address=str(body["address"]),
                    submitted_at=datetime.fromtimestamp(now, UTC),
                )
                rows.append(event)
                messages.append(
                    outbox.message(
                        INTAKE_EVENTS,
                        make_event(event, source="/lastmeter/intake", subject=event.case_id, time=event.submitted_at),
                    )
                )
            async with intake_pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO cases (case_id, category, description, community, street, lat, lon, address, "
                    "status, status_at, submitted_at, updated_at) "
                    "SELECT c, cat, d, com, s, la, lo, a, 'submitted', t, t, t FROM unnest("
                    "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::text[]"
                    ") AS u(c, cat, d, com, s, la, lo, a), (SELECT $9::timestamptz AS t) AS tt",
                    [e.case_id for e in rows],
                    [e.category for e in rows],
                    [e.description for e in rows],
                    [e.community for e in rows],
                    [e.street for e in rows],
                    [e.location.lat if e.location else None for e in rows],
                    [e.location.lon if e.location else None for e in rows],
                    [e.address for e in rows],
                    rows[0].submitted_at,
                )
                await outbox.add_messages(conn, messages)
        return time.perf_counter()

    try:
        return await _busiest_day(stack, limits, count_pool, n, "bulk insert", submit)
    finally:
        await intake_pool.close()
        await count_pool.close()


class Arrivals:
    """When each case's events were first seen by a reader (perf_counter seconds)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}

    def mark(self, case_id: str, type_: str) -> None:
        self.seen.setdefault((case_id, type_), time.perf_counter())


async def _follow_routed(stack: BenchStack, arrivals: Arrivals, caught_up: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        f"{stack.topic_prefix}{ROUTING_EVENTS}",
        bootstrap_servers=stack.bootstrap,
        group_id=f"bench-latency-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",  # the dev broker's "latest" is unreliable; skip the backlog instead
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        empty = 0
        while True:
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            records = [r for recs in batch.values() for r in recs]
            empty = 0 if records else empty + 1
            if empty >= 3:
                caught_up.set()
            if not caught_up.is_set():
                continue
            for r in records:
                with contextlib.suppress(Exception):
                    doc = orjson.loads(r.value)
                    arrivals.mark(doc["subject"], doc["type"])
    finally:
        await consumer.stop()


async def _follow_sse(stack: BenchStack, arrivals: Arrivals, connected: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {stack.keys['admin']}"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", f"{stack.urls['notify']}/v1/stream", headers=headers) as resp,
    ):
        resp.raise_for_status()
        connected.set()
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                with contextlib.suppress(Exception):
                    doc = orjson.loads(line[6:])
                    arrivals.mark(doc["subject"], doc["type"] + "@sse")


async def latency(stack: BenchStack, seq: Sequence) -> list[Figure]:
    """Offer 500 needs/s; time each from its scheduled send to routed on the topic and to the SSE stream."""
    offered = 500.0
    total = int(offered * (3 if stack.quick else 30))
    host, port = _host_port(stack.urls["intake"])
    base = seq.take(total)
    arrivals = Arrivals()
    caught_up, connected = asyncio.Event(), asyncio.Event()
    readers = [
        asyncio.create_task(_follow_routed(stack, arrivals, caught_up)),
        asyncio.create_task(_follow_sse(stack, arrivals, connected)),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(caught_up.wait(), connected.wait()), 120)
        result = await loadgen.run_open(
            host, port, "/v1/needs", lambda i: need_body(base + i), rate=offered, total=total, connections=64
        )
        due = {orjson.loads(r.body)["case_id"]: r.due for r in result.replies if r.status == 202}
        wanted = [(c, t) for c in due for t in (ROUTED, SUBMITTED + "@sse", ROUTED + "@sse")]
        for _ in range(50 if stack.quick else 300):  # stragglers: 10 s (quick) or a minute
            if all(k in arrivals.seen for k in wanted):
                break
            await asyncio.sleep(0.2)
    finally:
        for task in readers:
            task.cancel()
        for task in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def lat(type_: str) -> tuple[list[float], int]:
        values = [arrivals.seen[(c, type_)] - t for c, t in due.items() if (c, type_) in arrivals.seen]
        return values, len(due) - len(values)

    accepted = result.latencies(202)
    routed, routed_missing = lat(ROUTED)
    submitted, sse_missing = lat(SUBMITTED + "@sse")
    # The notify stream carries routed too; that is the dashboard's "someone has it".
    routed_sse, _ = lat(ROUTED + "@sse")
    note = f"{len(due)} of {total} accepted at {offered:.0f}/s offered; latency from the scheduled send"
    figures = [
        Figure("202 from intake at 500/s: p50", percentile(accepted, 50) * 1e3, "ms", note=note),
        Figure("202 from intake at 500/s: p99", percentile(accepted, 99) * 1e3, "ms"),
        Figure("intake → routed (topic): p50", percentile(routed, 50) * 1e3, "ms"),
        _target(
            "intake → routed (topic): p99",
            percentile(routed, 99) * 1e3,
            "ms",
            "≤ 100 ms",
            note=f"{routed_missing} never seen" if routed_missing else "",
        ),
        Figure("intake → SSE stream (need submitted): p50", percentile(submitted, 50) * 1e3, "ms"),
        Figure(
            "intake → SSE stream (need submitted): p99",
            percentile(submitted, 99) * 1e3,
            "ms",
            note=f"{sse_missing} never seen" if sse_missing else "",
        ),
    ]
    if routed_sse:
        figures.append(Figure("intake → SSE stream (case routed): p99", percentile(routed_sse, 99) * 1e3, "ms"))
    return figures


def peak_memory(stack: BenchStack) -> list[Figure]:
    """Each service process's peak resident set (VmHWM) so far."""
    figures = []
    for name, pid in sorted(stack.pids.items()):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                figures.append(Figure(f"peak memory: {name}", int(line.split()[1]) / 1024, "MiB", note="VmHWM"))
    return figures
