"""What notify's integration tests share: a real HTTP server for the app, real receivers, event builders."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from shared.devstack import free_port
from shared.events import Assignee, EventData, make_event
from shared.events.intake import NeedSubmitted
from shared.events.routing import CaseRouted

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """Serve an app over real HTTP on a free port (SSE needs a real socket); yields its URL and a client."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield url, client
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def publish(
    p: AIOKafkaProducer, topic: str, data: EventData, *, case_id: str, at: datetime, event_id: str | None = None
) -> str:
    """Publish one event the way a service's outbox relay would; returns its id."""
    event = make_event(data, source=f"/test/{topic}", subject=case_id, time=at)
    if event_id is not None:
        event.id = event_id
    await p.send_and_wait(topic, value=event.to_bytes(), key=case_id.encode())
    return event.id


def new_case() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def submitted(case_id: str, *, at: datetime = T0, street: str = "wanxing", **extra: Any) -> NeedSubmitted:
    values: dict[str, Any] = {
        "case_id": case_id,
        "category": "street_light_out",
        "description": "金融街3号楼前路灯不亮了",
        "community": "jinrongjie" if street == "wanxing" else "chaoyangli",
        "street": street,
        "submitted_at": at,
    }
    return NeedSubmitted(**{**values, **extra})


def routed(
    case_id: str,
    *,
    to: Assignee,
    at: datetime = T0 + timedelta(seconds=5),
    co: list[Assignee] | None = None,
    previous: list[Assignee] | None = None,
    street: str = "wanxing",
    attempt: int = 1,
) -> CaseRouted:
    return CaseRouted(
        case_id=case_id,
        category="street_light_out",
        description="金融街3号楼前路灯不亮了",
        community="jinrongjie" if street == "wanxing" else "chaoyangli",
        street=street,
        assignee=to,
        co_handlers=co or [],
        previous_assignees=previous or [],
        attempt=attempt,
        sla_class="utilities",
        submitted_at=T0,
        routed_at=at,
    )


def dept(code: str) -> Assignee:
    return Assignee(kind="department", code=code)


@dataclass
class Received:
    """One request a receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real local HTTP server that answers webhooks as told: status, a hang, a huge body."""

    status: int = 200
    hang: asyncio.Event | None = None  # while set-able and unset, requests wait (a stuck receiver)
    body_bytes: int = 2
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (e.g. a redirect's Location)
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Received(method, path, headers, body))
                if self.hang is not None:
                    await self.hang.wait()
                payload = b"x" * self.body_bytes
                extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
                head_out = f"HTTP/1.1 {self.status} X\r\n{extra}content-length: {len(payload)}\r\n\r\n"
                writer.write(head_out.encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def sse_events(
    url: str, key: str, *, want: int, last_event_id: str | None = None, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Read `want` events from the stream: each as {id, event, data}."""
    headers = {"Authorization": f"Bearer {key}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    out: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30)) as client,
        client.stream("GET", f"{url}/v1/stream", headers=headers, params=params) as resp,
    ):
        assert resp.status_code == 200, await resp.aread()
        frame: dict[str, Any] = {}
        async for line in resp.aiter_lines():
            if line.startswith("id: "):
                frame["id"] = line[4:]
            elif line.startswith("event: "):
                frame["event"] = line[7:]
            elif line.startswith("data: "):
                frame["data"] = json.loads(line[6:])
            elif line == "" and "data" in frame:
                out.append(frame)
                frame = {}
                if len(out) >= want:
                    return out
    return out
