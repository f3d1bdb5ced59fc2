"""Notify's SSE route: the live stream of case events, filtered to what the caller may see.

A stream belongs to the key that opened it: it ends within `sse_key_check_seconds` of that key's
revocation or expiry (or its session's end: expiry or logout). A key holds at most
`sse_max_streams_per_key` streams per process. `Last-Event-ID` replays at most `sse_replay_max_rows`
stream ids; a position further back (or one the table no longer has) gets a `resync` event carrying
the current position instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from services.notify.deps import Rt
from services.notify.runtime import NotifyRuntime
from services.notify.stream import service_layer
from services.notify.stream.hub import TooManyStreams, format_sse
from shared.auth import hash_key
from shared.events import known_types
from shared.http import ApiError, CurrentPrincipal, field_error

router = APIRouter(prefix="/v1", tags=["stream"])
MAX_STREAM_ID = 2**63 - 1
RETRY_AFTER_SECONDS = 10
_ENDINGS = {
    "revoked": "the key of this stream was revoked or has expired",
    "expired": "the session of this stream has ended: log in again",
}


def resync_frame(position: int, *, reason: str) -> bytes:
    """Tells a client its Last-Event-ID is too old to replay: reload, then follow on from `position`."""
    data = orjson.dumps({"position": position, "reason": reason}).decode()
    return f"id: {position}\nevent: resync\ndata: {data}\n\n".encode()


def end_frame(reason: str) -> bytes:
    """The last frame of a stream the server ended for its credential."""
    data = orjson.dumps({"error": "unauthorized", "reason": reason, "message": _ENDINGS[reason]}).decode()
    return f"event: end\ndata: {data}\n\n".encode()


def _position(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) > MAX_STREAM_ID:
        raise ApiError(
            422,
            "validation_failed",
            "Last-Event-ID must be a stream id (a non-negative integer)",
            fields=[{"field": "Last-Event-ID", "message": "not a stream id"}],
        )
    return int(raw)


@router.get(
    "/stream",
    summary="Server-Sent Events of the case events the caller may see; resumable with Last-Event-ID",
    description="Frames are `id` (the stream position), `event` (the CloudEvents type) and `data` (the event). "
    "A `Last-Event-ID` too far back to replay gets `event: resync` with data `{position, reason}` and `id` set to "
    "the current position: reload what you show, then carry on from there. When the stream's key is revoked or "
    "expires it gets `event: end` and closes. 429 with Retry-After when the key already holds its cap of streams.",
    response_class=StreamingResponse,
)
async def stream(
    request: Request,
    rt: Rt,
    principal: CurrentPrincipal,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    case_id: Annotated[str | None, Query(max_length=64, description="only this case's events")] = None,
    types: Annotated[str | None, Query(max_length=2000, description="comma-separated event types")] = None,
) -> StreamingResponse:
    hub = rt.extras.hub.get()
    settings = rt.settings
    resume_from = _position(last_event_id or request.query_params.get("last_event_id"))
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
    if unknown := [t for t in wanted if t not in known_types()]:
        raise field_error(
            "types", f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(known_types()))}"
        )
    session = getattr(request.state, "session", None)
    try:
        sub = hub.subscribe(
            principal,
            queue_size=settings.sse_queue_size,
            case_id=case_id,
            types=wanted,
            max_per_key=settings.sse_max_streams_per_key,
            not_after=float(session.expires_at) if session is not None else None,
            session_key=hash_key(session.session_id) if session is not None else None,
        )
    except TooManyStreams as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc
    live_from = hub.cursor
    max_rows = settings.sse_replay_max_rows

    async def frames() -> AsyncIterator[bytes]:
        sent: set[int] = set()
        try:
            yield b"retry: 2000\n\n"
            if resume_from is not None and resume_from < live_from:
                if live_from - resume_from > max_rows:
                    yield resync_frame(live_from, reason=f"more than {max_rows} events were missed")
                else:
                    rows = await service_layer.missed(rt.pool, after_id=resume_from, until_id=live_from, limit=max_rows)
                    for row in rows:
                        if sub.wants(row):
                            sent.add(row["id"])
                            yield format_sse(row)
            while True:
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), settings.sse_heartbeat_seconds)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if frame is None:
                    if sub.ended in _ENDINGS:
                        yield end_frame(sub.ended)
                    return  # or dropped for not reading fast enough: the client reconnects with Last-Event-ID
                if frame.id in sent:
                    continue  # the replay already sent it
                yield frame.data
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def run_hub(rt: NotifyRuntime) -> None:
    """Background task: the stream hub of this process, and the re-check of its streams' keys."""
    hub = rt.extras.hub.get()
    watcher = asyncio.create_task(
        hub.watch_keys(
            rt.keys.active_key_ids,
            interval=rt.settings.sse_key_check_seconds,
            now=lambda: rt.clock.now().timestamp(),
        )
    )
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await hub.run()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
