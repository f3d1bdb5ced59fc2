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
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from services.notify.audience import Audience
from services.notify.store import cases as store
from services.notify.store.deliveries import Pool
from shared.auth import Principal
from shared.pg_listen import listen_forever
from shared.retry import Backoff

Row = Mapping[str, Any]  # a stream row as the store reads it

log = structlog.get_logger(__name__)
GAP_GRACE_SECONDS = 5.0
# Which of these credentials and login sessions are still valid (KeyStore.active_key_ids).
ActiveKeyIds = Callable[[Collection[str]], Awaitable[set[str]]]


class TooManyStreams(Exception):
    """This key already holds as many streams as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this key already has {limit} open streams, the most it may hold")
        self.limit = limit


@dataclass(eq=False)
class Subscriber:
    """One connected SSE client: what it may see and its bounded queue."""

    principal: Principal
    queue: asyncio.Queue[Frame | None] = field(default_factory=lambda: asyncio.Queue(1000))
    dropped: bool = False
    case_id: str | None = None  # only this case's events
    types: tuple[str, ...] = ()  # only these event types (empty: all)
    not_after: float | None = None  # Unix time the stream must end by (its session's expiry)
    session_key: str | None = None  # the hash of the login session that opened it (cookie streams)
    ended: str | None = None  # why the hub ended it: "slow", "revoked" or "expired"

    def wants(self, row: Row, audience: Audience | None = None) -> bool:
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


def format_sse(row: Row) -> bytes:
    """One SSE frame: the stream id (for Last-Event-ID), the CloudEvents type and the envelope."""
    envelope = row["envelope"]
    data = envelope if isinstance(envelope, str) else orjson.dumps(envelope).decode()
    return f"id: {row['id']}\nevent: {row['type']}\ndata: {data}\n\n".encode()


def audience_of_row(row: Row) -> Audience:
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

    def __init__(self, *, pool: Pool, dsn: str, channel: str, poll_interval: float = 0.5) -> None:
        self._pool = pool
        self._dsn = dsn
        self._channel = channel
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._subscribers: set[Subscriber] = set()
        self._per_key: Counter[str | None] = Counter()
        self._cursor = 0
        self._gaps: dict[int, float] = {}
        self.delivered = 0
        self.dropped = 0

    def subscribe(
        self,
        principal: Principal,
        *,
        queue_size: int = 1000,
        case_id: str | None = None,
        types: tuple[str, ...] = (),
        max_per_key: int | None = None,
        not_after: float | None = None,
        session_key: str | None = None,
    ) -> Subscriber:
        """Register a live client; events it may see are queued for it from now on.

        Raises TooManyStreams when the key already holds `max_per_key` streams in this process.
        """
        if max_per_key is not None and self.streams_of(principal.key_id) >= max_per_key:
            raise TooManyStreams(max_per_key)
        sub = Subscriber(
            principal=principal,
            queue=asyncio.Queue(queue_size),
            case_id=case_id,
            types=types,
            not_after=not_after,
            session_key=session_key,
        )
        self._subscribers.add(sub)
        self._per_key[principal.key_id] += 1
        return sub

    def streams_of(self, key_id: str | None) -> int:
        """How many open streams this credential holds here."""
        return self._per_key[key_id]

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            self._per_key[sub.principal.key_id] -= 1
            if self._per_key[sub.principal.key_id] <= 0:
                del self._per_key[sub.principal.key_id]

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

    async def watch_keys(self, active_key_ids: ActiveKeyIds, *, interval: float, now: Callable[[], float]) -> None:
        """Until cancelled: every `interval` s, end the streams whose key was revoked or expired, or session ended."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_keys(active_key_ids, now=now())
            except Exception as exc:
                # A failed check ends nothing: the next one retries, and new requests still authenticate.
                log.warning("SSE key check failed", error=str(exc))

    async def check_keys(self, active_key_ids: ActiveKeyIds, *, now: float) -> int:
        """End the streams whose credential is no longer valid or whose session ran out; return how many."""
        subs = list(self._subscribers)
        if not subs:
            return 0
        held = {sub.principal.key_id for sub in subs if sub.principal.key_id}
        held |= {sub.session_key for sub in subs if sub.session_key}
        active = await active_key_ids(held) if held else set()
        ended = 0
        for sub in subs:
            if sub.principal.key_id not in active:
                self._end(sub, "revoked")
                ended += 1
            elif sub.session_key is not None and sub.session_key not in active:
                self._end(sub, "expired")  # logged out
                ended += 1
            elif sub.not_after is not None and now >= sub.not_after:
                self._end(sub, "expired")
                ended += 1
        return ended

    def _end(self, sub: Subscriber, reason: str) -> None:
        """Stop feeding a client and wake its response, which then closes."""
        sub.ended = reason
        self.unsubscribe(sub)
        while True:
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)
                return
            with contextlib.suppress(asyncio.QueueEmpty):
                sub.queue.get_nowait()

    def _dispatch(self, row: Row) -> None:
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
                self._end(sub, "slow")
