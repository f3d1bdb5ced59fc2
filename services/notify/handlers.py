"""Notify's reactions: project every case event, then fan it out to topics, SSE and subscriptions.

Set-wise per consumer batch: `prepare` locks and reads every case the batch touches, with its
linked reports, in a few statements; each event is then projected in memory; `flush` writes the
cases, the stream rows and the deliveries, one statement per table. The rare paths (a duplicate
link, an event parked until its case's street is known) still write as they happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from services.notify import store, store_delivery
from services.notify.audience import Audience, audience_for
from services.notify.delivery import delivery_channel
from services.notify.projection import CaseState, apply
from services.notify.store import StreamEntry
from services.notify.store_delivery import NewDelivery
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, EventData, known_types, parse_event
from shared.events.intake import DuplicateLinked
from shared.events.routing import CatalogueChanged
from shared.service import ServiceRuntime
from shared.topics import CASE_EVENT_TOPICS


def stream_channel(rt: ServiceRuntime) -> str:
    return f"{rt.settings.db_schema}_stream"


def case_event_types() -> list[type[EventData]]:
    """Every registered event type about a case (all but the catalogue's own)."""
    return [m for m in known_types().values() if m is not CatalogueChanged]


@dataclass
class FanoutBatch:
    """What one consumer transaction has read, and what it will write at the end."""

    cases: dict[str, CaseState] = field(default_factory=dict)  # locked and read, or projected since
    loaded: set[str] = field(default_factory=set)  # case ids already read (present or not)
    links: dict[str, list[str]] = field(default_factory=dict)  # case id -> linked submission ids
    parked: set[str] = field(default_factory=set)  # case ids with events waiting for their street
    subscriptions: list[asyncpg.Record] | None = None
    changed: dict[str, CaseState] = field(default_factory=dict)
    stream: list[StreamEntry] = field(default_factory=list)
    deliveries: list[NewDelivery] = field(default_factory=list)


def batch_of(ctx: HandlerContext) -> FanoutBatch:
    return ctx.scratch("fanout", FanoutBatch)


def make_consumer(rt: ServiceRuntime) -> ConsumerSpec:
    """The one consumer of every case event."""

    async def prepare(ctx: HandlerContext, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
        work = batch_of(ctx)
        new_ids = sorted({envelope.subject for envelope, _ in events} - work.loaded)
        if new_ids:
            work.cases.update(await store.lock_cases(ctx.conn, case_ids=new_ids))
            work.links.update(await store.submissions_of_cases(ctx.conn, case_ids=new_ids))
            work.parked |= await store.cases_with_parked(ctx.conn, case_ids=new_ids)
            work.loaded.update(new_ids)
        if work.subscriptions is None:
            work.subscriptions = await store_delivery.active_subscriptions(ctx.conn)

    async def fan_out(ctx: HandlerContext, work: FanoutBatch, envelope: CloudEvent, audience: Audience) -> None:
        """Audience topics (keyed by case id), a stream row and one delivery per matching subscription."""
        payload = envelope.to_bytes()  # serialised once for every topic, the stream row and the deliveries
        for topic in audience.topics():
            await ctx.publish(topic, envelope, payload=payload)
        work.stream.append(StreamEntry(envelope.id, envelope.subject, envelope.type, audience, orjson.loads(payload)))
        work.deliveries += store_delivery.deliveries_for(
            work.subscriptions or [],
            audience=audience,
            event_type=envelope.type,
            event_id=envelope.id,
            body=payload.decode(),
        )

    async def handle(ctx: HandlerContext, envelope: CloudEvent, payload: EventData) -> None:
        work = batch_of(ctx)
        case_id = envelope.subject
        before = work.cases.get(case_id) or CaseState(case_id=case_id)
        after = work.cases[case_id] = work.changed[case_id] = apply(before, payload, event_time=envelope.time)
        if isinstance(payload, DuplicateLinked):
            await store.add_link(ctx.conn, submission_id=payload.submission_id, case_id=case_id, at=payload.linked_at)
            linked = work.links.setdefault(case_id, [])
            if payload.submission_id not in linked:
                linked.append(payload.submission_id)
        if after.street is None:
            # Which street office it concerns is not known yet (its intake event is still on the way).
            doc = envelope.model_dump(mode="json", exclude_none=True)
            await store.park(ctx.conn, event_id=envelope.id, case_id=case_id, at=envelope.time, envelope=doc)
            work.parked.add(case_id)
            ctx.log.info("event parked until the case's street is known", type=envelope.type)
            return
        submissions = work.links.get(case_id, [])
        pending: list[tuple[CloudEvent, Audience]] = [
            (envelope, audience_for(before=before, after=after, payload=payload, submission_ids=submissions))
        ]
        if before.street is None and case_id in work.parked:
            work.parked.discard(case_id)
            for doc in await store.unpark(ctx.conn, case_id=case_id):
                parked_env, parked_payload = parse_event(orjson.dumps(doc))
                audience = audience_for(before=after, after=after, payload=parked_payload, submission_ids=submissions)
                pending.append((parked_env, audience))
        for item_envelope, audience in sorted(pending, key=lambda p: p[0].time):
            await fan_out(ctx, work, item_envelope, audience)

    async def flush(ctx: HandlerContext) -> None:
        work = batch_of(ctx)
        await store.save_cases(ctx.conn, list(work.changed.values()), now=ctx.clock.now())
        if work.stream:
            # Held until commit, so stream ids commit in order and Last-Event-ID resumption has no gap;
            # taken here, at the end, to hold it as briefly as possible.
            await store.lock_stream(ctx.conn, schema=rt.settings.db_schema)
            await store.append_stream(ctx.conn, work.stream, channel=stream_channel(rt))
        if await store_delivery.queue_deliveries(ctx.conn, work.deliveries, now=ctx.clock.now()):
            await ctx.conn.execute("SELECT pg_notify($1, '')", delivery_channel(rt.settings.db_schema))
        work.changed.clear()
        work.stream.clear()
        work.deliveries.clear()

    handlers: dict[type[EventData], Any] = dict.fromkeys(case_event_types(), handle)
    return ConsumerSpec(name="fanout", topics=list(CASE_EVENT_TOPICS), handlers=handlers, prepare=prepare, flush=flush)


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """Notify reads every case event topic."""
    return [make_consumer(rt)]
