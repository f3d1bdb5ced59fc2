"""The consumer loop: batches in, effects and inbox rows in one transaction, offsets after.

Rules (engineering brief): an event already in the inbox changes nothing; offsets are committed
only after the transaction commits; a message that can never be processed goes to the
dead-letter topic (through the outbox, in the same transaction) with its reason and original
coordinates, and consumption carries on; transient failures retry the batch with backoff.

A failure that repeats identically is not waited out forever: after `retry_attempts` batch
failures the batch is redone event by event, and an event that keeps failing the same way while
the others pass (or, alone, while the database answers) is dead-lettered as `retries-exhausted`.
When every event fails alike it is an outage: the batch waits with backoff and nothing is
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shared.clock import Clock
from shared.dead_letters import record_dead_letters
from shared.events import CloudEvent, EventData, PoisonMessage, parse_event
from shared.handlers import ConsumerSpec, Handler, HandlerContext
from shared.outbox import BatchOutbox, Outbox
from shared.retry import Backoff, FailureLedger, is_transient, signature
from shared.topics import DEADLETTER

log = structlog.get_logger(__name__)

# Bugs get this many tries before the event is dead-lettered instead of blocking its partition.
HANDLER_ATTEMPTS = 3
# Transient-looking errors get this many identical tries (the default of `consumer_retry_attempts`).
RETRY_ATTEMPTS = 5


class _Outage(Exception):
    """Every event of a careful pass failed alike: the world is down, not one event; wait, count nothing."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(signature(cause))
        self.cause = cause


@dataclass
class _Decoded:
    record: ConsumerRecord
    envelope: CloudEvent
    payload: EventData


class EventConsumer:
    """Runs one ConsumerSpec for one process; several processes share the consumer group."""

    def __init__(
        self,
        *,
        spec: ConsumerSpec[Any],
        bootstrap_servers: str,
        group_id: str,
        topic_prefix: str,
        pool: asyncpg.Pool,
        outbox: Outbox,
        clock: Clock,
        batch_size: int = 500,
        rebalance_timeout_ms: int = 10000,
        fetch_max_wait_ms: int = 20,
        retry_attempts: int = RETRY_ATTEMPTS,
    ) -> None:
        self.spec = spec
        self._retry_attempts = retry_attempts
        self._pool = pool
        self._outbox = outbox
        self._clock = clock
        self._prefix = topic_prefix
        self._batch_size = batch_size
        self._group_id = group_id
        self._by_type = {model.TYPE: handler for model, handler in spec.handlers.items()}
        self._consumer = AIOKafkaConsumer(
            *(f"{topic_prefix}{t}" for t in spec.topics),
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=f"{group_id}-{spec.name}",
            enable_auto_commit=False,
            # New groups start at the beginning: the dev broker's "latest" is unreliable, and a
            # durable consumer must not skip what was published before it first joined.
            auto_offset_reset="earliest",
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
            max_poll_interval_ms=300000,
            rebalance_timeout_ms=rebalance_timeout_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        self.processed = 0
        self.dead_lettered = 0
        # Per partition: the newest event time applied (committed), and the clock time of the last fetch
        # that found it drained. sla fires timers only on what these say it has seen (docs/sla.md).
        self.applied_through: dict[TopicPartition, datetime] = {}
        self.caught_up_at: dict[TopicPartition, datetime] = {}

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def run(self) -> None:
        """Consume until cancelled."""
        backoff = Backoff()
        while True:
            try:
                fetched_at = self._clock.now()
                batches = await self._consumer.getmany(timeout_ms=200, max_records=self._batch_size)
            except KafkaError as exc:
                log.warning("fetch failed; retrying", error=str(exc))
                await backoff.sleep()
                continue
            records = [r for recs in batches.values() for r in recs]
            if not records:
                await self._note_caught_up(fetched_at)
                continue
            await self._apply_until_done(records)
            offsets = {tp: recs[-1].offset + 1 for tp, recs in batches.items()}
            try:
                await self._consumer.commit(offsets)
            except CommitFailedError:
                # Partitions moved in a rebalance; their new owner redelivers and the inbox absorbs it.
                log.warning("offset commit lost to a rebalance", partitions=len(offsets))
            except KafkaError as exc:
                log.warning("offset commit failed; batch will be redelivered", error=str(exc))
            backoff.reset()

    async def _apply_until_done(self, records: list[ConsumerRecord]) -> None:
        """Apply a batch, retrying transient failures; poison, and an event that fails alike forever, never block it."""
        backoff = Backoff()
        careful = False
        batch_failures = 0
        ledger = FailureLedger()  # per event id, for this batch only
        while True:
            try:
                await self.apply(records, careful=careful, ledger=ledger)
                return
            except PoisonMessage:
                careful = True  # redo event by event, each in a savepoint, to isolate the poison
            except _Outage as outage:
                log.warning("every event fails alike; waiting for recovery", error=str(outage))
            except Exception as exc:
                if careful:
                    log.warning("careful pass failed; retrying", error=signature(exc))
                elif is_transient(exc):
                    batch_failures += 1
                    log.warning("batch failed transiently; retrying", error=str(exc), attempt=batch_failures)
                    # Past this, find out whether one event is at fault rather than wait for ever.
                    careful = batch_failures >= self._retry_attempts
                    if careful:
                        backoff.reset()  # the hunt for the one failing event gets its own short backoff
                else:
                    careful = True
                    log.exception("handler error")
            await backoff.sleep()

    async def apply(
        self, records: Sequence[ConsumerRecord], *, careful: bool = False, ledger: FailureLedger | None = None
    ) -> None:
        """Apply records in one transaction: inbox, effects, dead letters, queued events."""
        decoded: list[_Decoded] = []
        dead: list[tuple[ConsumerRecord, PoisonMessage]] = []
        newest: dict[TopicPartition, datetime] = {}
        for record in records:
            try:
                # Structured mode: the body is the whole event, whatever the headers say (messages
                # written before the binding was honoured carry a lone `ce_type` and no content-type).
                envelope, payload = parse_event(record.value)
            except PoisonMessage as poison:
                dead.append((record, poison))
                continue
            tp = TopicPartition(record.topic, record.partition)
            newest[tp] = max(newest.get(tp, envelope.time), envelope.time)
            if envelope.type in self._by_type:
                decoded.append(_Decoded(record, envelope, payload))
        batch_outbox = BatchOutbox(self._outbox)  # every event the batch causes, written in one statement
        async with self._pool.acquire() as conn, conn.transaction():
            ctx: HandlerContext[Any] = HandlerContext(
                conn=conn, outbox=batch_outbox, clock=self._clock, consumer=self.spec.name, deps=self.spec.deps
            )
            fresh = await self._claim_inbox(conn, [d.envelope.id for d in decoded])
            work: list[tuple[_Decoded, Handler[Any]]] = []
            for item in decoded:
                if item.envelope.id in fresh:  # else already applied (redelivery, or a duplicate in the batch)
                    fresh.discard(item.envelope.id)
                    work.append((item, self._by_type[item.envelope.type]))
            if careful:
                dead += await self._apply_one_by_one(ctx, batch_outbox, work, ledger=ledger or FailureLedger())
            else:
                await self.spec.run_unit(ctx, [(handler, item.envelope, item.payload) for item, handler in work])
            if dead:
                await self._dead_letter(conn, dead, batch_outbox)
            await batch_outbox.flush(conn)
        self.processed += len(decoded)
        for tp, at in newest.items():  # committed: these partitions are applied through `at`
            self.applied_through[tp] = max(self.applied_through.get(tp, at), at)
        self.dead_lettered += len(dead)

    async def _apply_one_by_one(
        self,
        ctx: HandlerContext[Any],
        outbox: BatchOutbox,
        work: list[tuple[_Decoded, Handler[Any]]],
        *,
        ledger: FailureLedger,
    ) -> list[tuple[ConsumerRecord, PoisonMessage]]:
        """Each event in its own savepoint, so the poison among them rolls back alone; returns the dead."""
        dead: list[tuple[ConsumerRecord, PoisonMessage]] = []
        failed: list[tuple[_Decoded, Exception]] = []
        passed = 0
        for item, handler in work:
            mark = outbox.mark()
            try:
                async with ctx.conn.transaction():
                    await self.spec.run_unit(ctx, [(handler, item.envelope, item.payload)])
                passed += 1
                continue
            except PoisonMessage as poison:
                outbox.rewind(mark)
                ctx.reset_scratch()  # the savepoint rollback may have undone what it recorded
                dead.append((item.record, poison))
                await self._forget(ctx.conn, item.envelope.id)
            except Exception as exc:
                if ctx.conn.is_closed():
                    raise _Outage(exc) from exc
                outbox.rewind(mark)
                ctx.reset_scratch()
                failed.append((item, exc))
        if failed:
            dead += await self._judge(ctx.conn, failed, passed=passed, ledger=ledger)
        return dead

    async def _judge(
        self, conn: asyncpg.Connection, failed: list[tuple[_Decoded, Exception]], *, passed: int, ledger: FailureLedger
    ) -> list[tuple[ConsumerRecord, PoisonMessage]]:
        """Count the failed events' tries, unless it is an outage; the exhausted ones are returned as dead.

        Raises (rolling the batch back for another try) while any failed event has tries left.
        """
        if passed == 0:
            alike = len({signature(exc) for _, exc in failed}) == 1
            if (len(failed) > 1 and alike) or not await self._database_answers(conn):
                raise _Outage(failed[0][1])
        dead: list[tuple[ConsumerRecord, PoisonMessage]] = []
        retry: Exception | None = None
        for item, exc in failed:
            transient = is_transient(exc)
            limit = self._retry_attempts if transient else HANDLER_ATTEMPTS
            tries = ledger.record(item.envelope.id, exc)
            log.warning("event failed", event_id=item.envelope.id, attempt=tries, limit=limit, error=signature(exc))
            if tries < limit:
                retry = retry or exc
                continue
            reason = "retries-exhausted" if transient else "handler-error"
            dead.append((item.record, PoisonMessage(reason, f"{tries} identical failures: {signature(exc)}")))
            await self._forget(conn, item.envelope.id)
        if retry is not None:
            raise retry
        return dead

    async def _database_answers(self, conn: asyncpg.Connection) -> bool:
        """Whether the batch's connection still runs a trivial query (else a lone failure is an outage)."""
        try:
            await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def _claim_inbox(self, conn: asyncpg.Connection, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        rows = await conn.fetch(
            "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::text[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            self.spec.name,
            event_ids,
        )
        return {r["event_id"] for r in rows}

    async def _forget(self, conn: asyncpg.Connection, event_id: str) -> None:
        """Un-claim a dead-lettered event, so replaying it once fixed is not mistaken for a duplicate."""
        await conn.execute("DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", self.spec.name, event_id)

    async def _dead_letter(
        self, conn: asyncpg.Connection, dead: list[tuple[ConsumerRecord, PoisonMessage]], outbox: BatchOutbox
    ) -> None:
        await record_dead_letters(
            conn,
            dead,
            outbox=outbox,
            consumer=self.spec.name,
            source=f"/lastmeter/{self._group_id}",
            topic=f"{self._prefix}{DEADLETTER}",
            time=self._clock.now(),
        )

    async def _note_caught_up(self, fetched_at: datetime) -> None:
        """An empty fetch: every assigned partition fetched at least once and at its high watermark is drained."""
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue  # no fetch answered yet (just assigned): an empty result proves nothing
            try:
                position = await self._consumer.position(tp)
            except KafkaError:  # revoked meanwhile
                continue
            if position >= highwater:
                self.caught_up_at[tp] = fetched_at

    def partitions(self) -> set[TopicPartition]:
        """Every partition of the topics this consumer reads, assigned to this process or not (its metadata)."""
        return {
            TopicPartition(topic, p)
            for topic in self._consumer.subscription()
            for p in self._consumer.partitions_for_topic(topic) or ()
        }

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())
