"""Transactional outbox: events are written with the state change and published by a relay.

Messages follow the CloudEvents Kafka binding (`shared.events.binding`): events structured, with
their `content-type` header; dead letters binary.

A service never publishes after committing. `Outbox.add` inserts into the service's `outbox`
table inside the caller's transaction; `OutboxRelay` claims rows in id order, publishes them
with acks=all and deletes them. One relay per service publishes at a time (a transaction-level
advisory lock) so events of one case leave in the order they were written; the others stand by
and take over at once if it dies.

One row must never block the rest: `message` refuses an event larger than the broker accepts
(`TooLarge`, which an API answers 413), and a row the broker still refuses as too large is moved to
`dead_letters` (reason `too-large`) so the rows after it flow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
import orjson
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from shared.errors import TooLarge
from shared.events import CloudEvent
from shared.events.binding import structured_headers, wire_headers
from shared.kafka import MAX_MESSAGE_BYTES
from shared.pg_listen import listen_forever
from shared.retry import Backoff, is_transient

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    """One row for the outbox: already serialised, so dead letters of raw bytes fit too."""

    topic: str
    key: str
    event_id: str
    payload: bytes
    headers: dict[str, str]

    def wire_size(self) -> int:
        """Its size as the producer counts it (one record in its own batch)."""
        size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            self.key.encode(), self.payload, wire_headers(self.headers)
        )
        return size


_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class Outbox:
    """Writes events into a service's outbox table, within the caller's transaction."""

    def __init__(self, *, schema: str, topic_prefix: str, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.schema = schema
        self.topic_prefix = topic_prefix
        self.channel = f"{schema}_outbox"
        self.max_message_bytes = max_message_bytes

    def message(
        self, topic: str, event: CloudEvent, *, headers: dict[str, str] | None = None, payload: bytes | None = None
    ) -> OutgoingMessage:
        """Build the row for `event` on the logical `topic`, keyed by its case id (`payload`: already serialised).

        Raises TooLarge when the broker could never take it, so the caller refuses it now rather
        than the relay failing on it later.
        """
        message = OutgoingMessage(
            topic=f"{self.topic_prefix}{topic}",
            key=event.subject,
            event_id=event.id,
            payload=payload if payload is not None else event.to_bytes(),
            headers={**structured_headers(), **(headers or {})},
        )
        size = message.wire_size()
        limit = self.max_message_bytes
        if size > limit:
            raise TooLarge(
                f"body: the {event.type} event would be {size} bytes, over the {limit} bytes the broker accepts",
                fields=[{"field": "body", "message": f"too large to publish ({size} > {limit} bytes)"}],
                limit=limit,
            )
        return message

    async def add(
        self, conn: asyncpg.Connection, topic: str, event: CloudEvent, *, payload: bytes | None = None
    ) -> None:
        """Queue one event for publishing when the surrounding transaction commits."""
        await self.add_messages(conn, [self.message(topic, event, payload=payload)])

    async def add_messages(self, conn: asyncpg.Connection, messages: Iterable[OutgoingMessage]) -> None:
        """Queue several prepared messages at once (one round trip)."""
        rows = [(m.topic, m.key, m.event_id, m.payload, orjson.dumps(m.headers).decode()) for m in messages]
        if not rows:
            return
        # One round trip: the insert and the wake-up. NOTIFY is delivered on commit only, and
        # PostgreSQL folds repeats within one transaction.
        await conn.execute(
            "WITH queued AS (INSERT INTO outbox (topic, key, event_id, payload, headers) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) RETURNING 1) "
            "SELECT pg_notify($6, '') FROM (SELECT 1 FROM queued LIMIT 1) AS any_queued",
            *map(list, zip(*rows, strict=True)),
            self.channel,
        )


class BatchOutbox(Outbox):
    """An outbox that gathers a whole consumer batch's events and writes them in one statement.

    Handlers see the usual `add` / `add_messages`; the consumer loop calls `flush` once, in the
    batch's transaction. `mark` / `rewind` drop what a handler queued before it failed.
    """

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(
            schema=outbox.schema, topic_prefix=outbox.topic_prefix, max_message_bytes=outbox.max_message_bytes
        )
        self._target = outbox
        self._pending: list[OutgoingMessage] = []

    async def add(
        self, conn: asyncpg.Connection, topic: str, event: CloudEvent, *, payload: bytes | None = None
    ) -> None:
        self._pending.append(self.message(topic, event, payload=payload))

    async def add_messages(self, conn: asyncpg.Connection, messages: Iterable[OutgoingMessage]) -> None:
        self._pending.extend(messages)

    def mark(self) -> int:
        return len(self._pending)

    def rewind(self, mark: int) -> None:
        del self._pending[mark:]

    async def flush(self, conn: asyncpg.Connection) -> int:
        """Write everything gathered; returns how many messages."""
        pending, self._pending = self._pending, []
        await self._target.add_messages(conn, pending)
        return len(pending)


class OutboxRelay:
    """Publishes committed outbox rows to the broker, in order, at least once."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        dsn: str,
        producer: AIOKafkaProducer,
        outbox: Outbox,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._producer = producer
        self._outbox = outbox
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._lock_key = f"outbox:{outbox.schema}"
        self.published = 0

    async def run(self) -> None:
        """Relay until cancelled: drain, then sleep until NOTIFY or the polling interval."""
        listener = asyncio.create_task(
            listen_forever(self._dsn, self._outbox.channel, self._wake.set), name="outbox-listen"
        )
        backoff = Backoff()
        try:
            while True:
                try:
                    sent = await self.publish_batch()
                    backoff.reset()
                except Exception as exc:
                    if not is_transient(exc):
                        log.exception("outbox relay failed; retrying")
                    else:
                        log.warning("outbox relay waiting for recovery", error=str(exc))
                    await backoff.sleep()
                    continue
                if sent >= self._batch_size:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def publish_batch(self) -> int:
        """Publish one claimed batch; rows are deleted only after the broker acknowledged them."""
        async with self._pool.acquire() as conn, conn.transaction():
            leader = await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", self._lock_key)
            if not leader:
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            futures: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
            too_large: list[tuple[asyncpg.Record, Exception]] = []
            for row in rows:
                headers = wire_headers(orjson.loads(row["headers"]))
                try:
                    future = await self._producer.send(
                        row["topic"], value=bytes(row["payload"]), key=row["key"].encode(), headers=headers
                    )
                except _TOO_LARGE as exc:  # the producer's own check, before anything is sent
                    too_large.append((row, exc))
                    continue
                futures.append((row, future))
            results = await asyncio.gather(*(f for _, f in futures), return_exceptions=True)
            for (row, _), result in zip(futures, results, strict=True):
                if isinstance(result, _TOO_LARGE):  # the broker's refusal
                    too_large.append((row, result))
                elif isinstance(result, BaseException):
                    raise result  # everything rolls back and is sent again: at least once
            if too_large:
                await self._dead_letter(conn, too_large)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.published += len(rows)
        return len(rows)

    async def _dead_letter(self, conn: asyncpg.Connection, rows: list[tuple[asyncpg.Record, Exception]]) -> None:
        """Move rows the broker will never take to `dead_letters`, so the rows after them flow."""
        for row, exc in rows:
            log.error(
                "outbox row too large to publish; dead-lettered",
                topic=row["topic"],
                outbox_id=row["id"],
                bytes=len(row["payload"]),
                error=str(exc),
            )
        await conn.executemany(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", key, payload, reason, detail) '
            "VALUES ('outbox', $1, -1, $2, $3, $4, 'too-large', $5) ON CONFLICT DO NOTHING",
            [
                (row["topic"], row["id"], row["key"], bytes(row["payload"]), f"{type(exc).__name__}: {exc}"[:2000])
                for row, exc in rows
            ],
        )
