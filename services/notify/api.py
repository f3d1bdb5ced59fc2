"""Notify's SSE route: the live stream of case events, filtered to what the caller may see."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from services.notify import store
from services.notify.deps import Runtime, settings_of
from services.notify.hub import StreamHub, Subscriber, format_sse
from shared.events import known_types
from shared.http import ApiError, CurrentPrincipal, field_error
from shared.service import ServiceRuntime

router = APIRouter(prefix="/v1", tags=["stream"])


@router.get(
    "/stream",
    summary="Server-Sent Events of the case events the caller may see; resumable with Last-Event-ID",
    response_class=StreamingResponse,
)
async def stream(
    request: Request,
    rt: Runtime,
    principal: CurrentPrincipal,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    case_id: Annotated[str | None, Query(max_length=64, description="only this case's events")] = None,
    types: Annotated[str | None, Query(max_length=2000, description="comma-separated event types")] = None,
) -> StreamingResponse:
    hub: StreamHub = rt.state["hub"]
    settings = settings_of(rt)
    resume_from: int | None = None
    raw = last_event_id or request.query_params.get("last_event_id")
    if raw is not None:
        if not raw.isdigit():
            raise ApiError(
                422,
                "validation_failed",
                "Last-Event-ID must be a stream id (an integer)",
                fields=[{"field": "Last-Event-ID", "message": "not an integer"}],
            )
        resume_from = int(raw)
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
    if unknown := [t for t in wanted if t not in known_types()]:
        raise field_error(
            "types", f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(known_types()))}"
        )
    sub = hub.subscribe(principal, queue_size=settings.sse_queue_size, case_id=case_id, types=wanted)
    live_from = hub.cursor

    async def frames() -> AsyncIterator[bytes]:
        sent: set[int] = set()
        try:
            yield b"retry: 2000\n\n"
            if resume_from is not None:
                async for row in _replay(rt.pool, sub, after=resume_from, until=live_from):
                    sent.add(row["id"])
                    yield format_sse(row)
            while True:
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), settings.sse_heartbeat_seconds)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if frame is None:
                    return  # dropped for not reading fast enough; the client reconnects with Last-Event-ID
                if frame.id in sent:
                    continue
                yield frame.data
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _replay(pool: asyncpg.Pool, sub: Subscriber, *, after: int, until: int) -> AsyncIterator[asyncpg.Record]:
    """Rows the client missed, up to where the live feed took over."""
    cursor = after
    while cursor < until:
        rows = await store.stream_after(pool, after_id=cursor, limit=1000)
        if not rows:
            return
        for row in rows:
            if row["id"] > until:
                return
            cursor = row["id"]
            if sub.wants(row):
                yield row


async def run_hub(rt: ServiceRuntime) -> None:
    """Background task: the stream hub of this process."""
    hub: StreamHub = rt.state["hub"]
    with contextlib.suppress(asyncio.CancelledError):
        await hub.run()
