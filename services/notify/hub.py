"""The stream hub: one per notify process, pushing new stream rows to its live SSE clients.

Rows are written by whichever notify process consumed the event; every process LISTENs for the
commit notification and reads new rows from the table, so a client sees all events whatever
process it is connected to. Concurrent transactions can commit ids out of order, so ids skipped
over are re-checked for a short while before they are given up as rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import asyncpg
import orjson
import structlog

from services.notify import store
from services.notify.audience import Audience
from shared.auth import Principal
from shared.pg_listen import listen_forever
from shared.retry import Backoff

log = structlog.get_logger(__name__)
GAP_GRACE_SECONDS = 5.0


@dataclass(eq=False)
class Subscriber:
    """One connected SSE client: what it may see and its bounded queue."""

    principal: Principal
    queue: asyncio.Queue[Frame | None] = field(default_factory=lambda: asyncio.Queue(1000))
    dropped: bool = False
    case_id: str | None = None  # only this case's events
    types: tuple[str, ...] = ()  # only these event types (empty: all)

    def wants(self, row: asyncpg.Record, audience: Audience | None = None) -> bool:
        """Whether this client asked for the row and may see it (`audience` when already built)."""
        if self.case_id is not None and row["case_id"] != self.case_id:
            return False
        if self.types and row["type"] not in self.types:
            return False
        return (audience or audience_of_row(row)).visible_to(self.principal)


@dataclass(frozen=True)
class Frame:
    """A stream row rendered once as an SSE frame, shared by every client that receives it."""

    id: int
    data: bytes


def format_sse(row: asyncpg.Record) -> bytes:
    """One SSE frame: the stream id (for Last-Event-ID), the CloudEvents type and the envelope."""
    envelope = row["envelope"]
    data = envelope if isinstance(envelope, str) else orjson.dumps(envelope).decode()
    return f"id: {row['id']}\nevent: {row['type']}\ndata: {data}\n\n".encode()


def audience_of_row(row: asyncpg.Record) -> Audience:
    """The audience a stream row was fanned out to."""
    return Audience(
        case_id=row["case_id"],
        street=row["street"],
        department=row["department"],
        team=row["team"],
        co_departments=tuple(row["co_departments"] or ()),
        co_teams=tuple(row["co_teams"] or ()),
        submission_ids=tuple(row["submission_ids"] or ()),
    )


class StreamHub:
    """Reads new stream rows and hands each to the subscribers allowed to see it."""

    def __init__(self, *, pool: asyncpg.Pool, dsn: str, channel: str, poll_interval: float = 0.5) -> None:
        self._pool = pool
        self._dsn = dsn
        self._channel = channel
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._subscribers: set[Subscriber] = set()
        self._cursor = 0
        self._gaps: dict[int, float] = {}
        self.delivered = 0
        self.dropped = 0

    def subscribe(
        self, principal: Principal, *, queue_size: int = 1000, case_id: str | None = None, types: tuple[str, ...] = ()
    ) -> Subscriber:
        """Register a live client; events it may see are queued for it from now on."""
        sub = Subscriber(principal=principal, queue=asyncio.Queue(queue_size), case_id=case_id, types=types)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def cursor(self) -> int:
        return self._cursor

    async def run(self) -> None:
        """Follow the stream table until cancelled."""
        self._cursor = await store.max_stream_id(self._pool)
        listener = asyncio.create_task(listen_forever(self._dsn, self._channel, self._wake.set))
        backoff = Backoff()
        try:
            while True:
                self._wake.clear()
                try:
                    await self._poll_once()
                    backoff.reset()
                except Exception as exc:
                    log.warning("stream hub poll failed", error=str(exc))
                    await backoff.sleep()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _poll_once(self) -> None:
        rows = list(await store.stream_after(self._pool, after_id=self._cursor))
        now = time.monotonic()
        if self._gaps:
            rows += await store.stream_ids(self._pool, ids=list(self._gaps))
            self._gaps = {i: t for i, t in self._gaps.items() if now - t < GAP_GRACE_SECONDS}
        for row in sorted(rows, key=lambda r: r["id"]):
            row_id = row["id"]
            if row_id > self._cursor:
                for missing in range(self._cursor + 1, row_id):
                    self._gaps.setdefault(missing, now)
                self._cursor = row_id
            self._gaps.pop(row_id, None)
            self._dispatch(row)
        if len(rows) >= 1000:
            self._wake.set()

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def _dispatch(self, row: asyncpg.Record) -> None:
        # Built and rendered once per row, not once per client: a thousand clients share them.
        audience = audience_of_row(row)
        frame: Frame | None = None
        for sub in list(self._subscribers):
            if not sub.wants(row, audience):
                continue
            frame = frame or Frame(id=row["id"], data=format_sse(row))
            try:
                sub.queue.put_nowait(frame)
                self.delivered += 1
            except asyncio.QueueFull:
                # A client that does not read is cut off rather than slowing everyone else down.
                sub.dropped = True
                self.dropped += 1
                log.info("slow SSE client dropped", principal=sub.principal.name or sub.principal.role)
                self._subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(None)
