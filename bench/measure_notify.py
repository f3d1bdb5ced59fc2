"""Notify's figures: event-to-client latency with many live SSE clients; webhook deliveries per second.

1. N concurrent SSE clients (1,000; 200 quick) hold `/v1/stream` open as the Wanxing street
   office. Events are published straight onto `intake.events` (as intake's relay would); each
   client records when each event reaches it. Latency = arrival - publish, over every client x event.
2. 100 local webhook receivers, one of them dead (its port closed), each with a subscription;
   M needs are published and the time until the 99 live receivers have every delivery gives
   deliveries per second. The dead one's deliveries keep retrying meanwhile: they must not slow the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from bench.core import BenchStack, Figure
from shared.devstack import free_port
from shared.events import make_event
from shared.events.intake import NeedSubmitted

SSE_TARGET_P99_MS = 250.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _need(case_id: str) -> NeedSubmitted:
    return NeedSubmitted(
        case_id=case_id,
        category="street_light_out",
        description="bench: 路灯不亮",
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime.now(UTC),
    )


async def _publish(producer: AIOKafkaProducer, topic: str, case_id: str) -> float:
    event = make_event(_need(case_id), source="/bench/notify", subject=case_id, time=datetime.now(UTC))
    sent = time.time()
    await producer.send_and_wait(topic, event.to_bytes(), key=case_id.encode())
    return sent


class _SseClient:
    """A lean SSE reader on a raw socket: records the arrival time of each case it sees."""

    def __init__(self, host: str, port: int, key: str, wanted: set[str]) -> None:
        self.host, self.port, self.key, self.wanted = host, port, key, wanted
        self.arrivals: dict[str, float] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(
                f"GET /v1/stream HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.key}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"retry:"):
                    self.ready.set()
                elif line.startswith(b"data: "):
                    now = time.time()
                    subject = orjson.loads(line[6:]).get("subject")
                    if subject in self.wanted and subject not in self.arrivals:
                        self.arrivals[subject] = now
                        if len(self.arrivals) == len(self.wanted):
                            return
        finally:
            writer.close()


async def measure_sse(stack: BenchStack) -> list[Figure]:
    clients_n = 200 if stack.quick else 1000
    events_n = 5 if stack.quick else 20
    url = httpx.URL(stack.urls["notify"])
    key = stack.keys["street_offices"]["wanxing"]
    case_ids = [f"bench-sse-{uuid.uuid4().hex[:10]}" for _ in range(events_n)]
    clients = [_SseClient(url.host, url.port or 80, key, set(case_ids)) for _ in range(clients_n)]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), 60)
        topic = f"{stack.topic_prefix}intake.events"
        for case_id in case_ids:
            sent[case_id] = await _publish(producer, topic, case_id)
            await asyncio.sleep(0.05)  # a steady trickle, not one batch: each event is its own measurement
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    finally:
        await producer.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(c.arrivals[cid] - sent[cid]) * 1000 for c in clients for cid in c.arrivals if cid in sent]
    expected = clients_n * events_n
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    note = f"{clients_n} clients x {events_n} events; {len(latencies)}/{expected} arrivals"
    return [
        Figure("notify SSE event→client latency p50", round(p50, 1), "ms", note=note),
        Figure(
            "notify SSE event→client latency p99",
            round(p99, 1),
            "ms",
            target=f"≤ {SSE_TARGET_P99_MS:g} ms",
            met=p99 <= SSE_TARGET_P99_MS and len(latencies) == expected,
            note=note,
        ),
    ]


class _Receiver:
    """A minimal keep-alive HTTP server that answers 200 and counts deliveries."""

    def __init__(self) -> None:
        self.count = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for raw in head.split(b"\r\n"):
                    if raw.lower().startswith(b"content-length:"):
                        length = int(raw.split(b":", 1)[1])
                await reader.readexactly(length)
                self.count += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def measure_webhooks(stack: BenchStack) -> list[Figure]:
    events_n = 8 if stack.quick else 50
    receivers = [_Receiver() for _ in range(99)]
    for r in receivers:
        await r.start()
    dead_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    admin = {"Authorization": f"Bearer {stack.keys['admin']}"}
    subs: list[str] = []
    async with httpx.AsyncClient(base_url=stack.urls["notify"], timeout=30) as client:
        try:
            for target in [*(f"http://127.0.0.1:{r.port}/hook" for r in receivers), dead_url]:
                resp = await client.post(
                    "/v1/subscriptions",
                    headers=admin,
                    json={
                        "channel": "webhook",
                        "target": target,
                        "secret": "bench-secret-0123456789",
                        "scope": {"kind": "street", "code": "wanxing"},
                        "event_types": ["lastmeter.need.submitted"],
                        "description": "bench",
                    },
                )
                if resp.status_code != 201:
                    return [Figure("notify webhook deliveries", 0, "/s", note=f"cannot subscribe: {resp.text[:200]}")]
                subs.append(resp.json()["id"])
            producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all", enable_idempotence=False)
            await producer.start()
            try:
                start = time.monotonic()
                topic = f"{stack.topic_prefix}intake.events"
                for _ in range(events_n):
                    await _publish(producer, topic, f"bench-hook-{uuid.uuid4().hex[:10]}")
            finally:
                await producer.stop()
            expected = 99 * events_n
            deadline = time.monotonic() + 120
            while sum(r.count for r in receivers) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - start
            got = sum(r.count for r in receivers)
        finally:
            for sub_id in subs:
                with contextlib.suppress(httpx.HTTPError):
                    await client.delete(f"/v1/subscriptions/{sub_id}", headers=admin)
            for r in receivers:
                if r.server is not None:
                    r.server.close()
    rate = got / elapsed if elapsed > 0 else 0.0
    return [
        Figure(
            "notify webhook deliveries (100 receivers, 1 dead)",
            round(rate, 1),
            "/s",
            note=f"{got}/{expected} delivered to the 99 live receivers in {elapsed:.1f} s (publish to last arrival)",
        )
    ]


async def measure(stack: BenchStack) -> list[Figure]:
    """Both notify figures."""
    figures = await measure_sse(stack)
    figures += await measure_webhooks(stack)
    return figures
