"""Notify's reactions: project every case event, then fan it out to topics, SSE and subscriptions.

Set-wise per consumer batch: `prepare` locks and reads every case the batch touches, with its
linked reports, in a few statements; each event is then projected in memory; `flush` writes the
cases, the stream rows and the deliveries, one statement per table. The rare paths (a duplicate
link, an event parked until its case's street is known) still write as they happen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.notify.audience import Audience, audience_for
from services.notify.delivery import delivery_channel
from services.notify.projection import CaseState, apply
from services.notify.runtime import NotifyRuntime
from services.notify.settings import NotifySettings
from services.notify.store.cases import StreamEntry
from services.notify.store.deliveries import NewDelivery, deliveries_for
from services.notify.store.fanout import FanoutStore, PgFanoutStore
from shared.events import CloudEvent, EventData, known_types, parse_event
from shared.events.intake import DuplicateLinked
from shared.events.routing import CatalogueChanged
from shared.handlers import ConsumerSpec, HandlerContext, HandlerTable, handler_spec
from shared.topics import CASE_EVENT_TOPICS


def stream_channel(settings: NotifySettings) -> str:
    """The LISTEN channel that wakes every notify process's stream hub."""
    return f"{settings.db_schema}_stream"


@dataclass(frozen=True)
class NotifyDeps:
    """What the fan-out handlers need: their store and the names of the channels they wake."""

    store: FanoutStore
    db_schema: str
    stream_channel: str
    delivery_channel: str

    @classmethod
    def of(cls, rt: NotifyRuntime) -> NotifyDeps:
        return cls(
            store=PgFanoutStore(),
            db_schema=rt.settings.db_schema,
            stream_channel=stream_channel(rt.settings),
            delivery_channel=delivery_channel(rt.settings.db_schema),
        )


Ctx = HandlerContext[NotifyDeps]


@dataclass
class FanoutBatch:
    """What one consumer transaction has read, and what it will write at the end."""

    cases: dict[str, CaseState] = field(default_factory=dict)  # locked and read, or projected since
    loaded: set[str] = field(default_factory=set)  # case ids already read (present or not)
    links: dict[str, list[str]] = field(default_factory=dict)  # case id -> linked submission ids
    parked: set[str] = field(default_factory=set)  # case ids with events waiting for their street
    subscriptions: Sequence[Mapping[str, Any]] | None = None
    changed: dict[str, CaseState] = field(default_factory=dict)
    stream: list[StreamEntry] = field(default_factory=list)
    deliveries: list[NewDelivery] = field(default_factory=list)


def batch_of(ctx: Ctx) -> FanoutBatch:
    return ctx.scratch("fanout", FanoutBatch)


def case_event_types() -> list[type[EventData]]:
    """Every registered event type about a case (all but the catalogue's own)."""
    return [m for m in known_types().values() if m is not CatalogueChanged]


async def prepare(ctx: Ctx, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
    """Lock and read every case the unit touches, its links and parked events; the subscriptions once."""
    work = batch_of(ctx)
    store = ctx.deps.store
    new_ids = sorted({envelope.subject for envelope, _ in events} - work.loaded)
    if new_ids:
        work.cases.update(await store.lock_cases(ctx.conn, case_ids=new_ids))
        work.links.update(await store.submissions_of_cases(ctx.conn, case_ids=new_ids))
        work.parked |= await store.cases_with_parked(ctx.conn, case_ids=new_ids)
        work.loaded.update(new_ids)
    if work.subscriptions is None:
        work.subscriptions = await store.active_subscriptions(ctx.conn)


async def fan_out(ctx: Ctx, work: FanoutBatch, envelope: CloudEvent, audience: Audience) -> None:
    """Audience topics (keyed by case id), a stream row and one delivery per matching subscription."""
    payload = envelope.to_bytes()  # serialised once for every topic, the stream row and the deliveries
    for topic in audience.topics():
        await ctx.publish(topic, envelope, payload=payload)
    work.stream.append(StreamEntry(envelope.id, envelope.subject, envelope.type, audience, orjson.loads(payload)))
    work.deliveries += deliveries_for(
        work.subscriptions or [],
        audience=audience,
        event_type=envelope.type,
        event_id=envelope.id,
        body=payload.decode(),
    )


async def on_case_event(ctx: Ctx, envelope: CloudEvent, event: EventData) -> None:
    """Project one event onto its case, then fan it out (or park it until the case's street is known)."""
    work = batch_of(ctx)
    store = ctx.deps.store
    case_id = envelope.subject
    before = work.cases.get(case_id) or CaseState(case_id=case_id)
    after = work.cases[case_id] = work.changed[case_id] = apply(before, event, event_time=envelope.time)
    if isinstance(event, DuplicateLinked):
        await store.add_link(ctx.conn, submission_id=event.submission_id, case_id=case_id, at=event.linked_at)
        linked = work.links.setdefault(case_id, [])
        if event.submission_id not in linked:
            linked.append(event.submission_id)
    if after.street is None:
        # Which street office it concerns is not known yet (its intake event is still on the way).
        doc = envelope.model_dump(mode="json", exclude_none=True)
        await store.park(ctx.conn, event_id=envelope.id, case_id=case_id, at=envelope.time, envelope=doc)
        work.parked.add(case_id)
        ctx.log.info("event parked until the case's street is known", type=envelope.type)
        return
    submissions = work.links.get(case_id, [])
    pending: list[tuple[CloudEvent, Audience]] = [
        (envelope, audience_for(before=before, after=after, payload=event, submission_ids=submissions))
    ]
    if before.street is None and case_id in work.parked:
        work.parked.discard(case_id)
        for doc in await store.unpark(ctx.conn, case_id=case_id):
            parked_env, parked_payload = parse_event(orjson.dumps(doc))
            audience = audience_for(before=after, after=after, payload=parked_payload, submission_ids=submissions)
            pending.append((parked_env, audience))
    for item_envelope, audience in sorted(pending, key=lambda p: p[0].time):
        await fan_out(ctx, work, item_envelope, audience)


async def flush(ctx: Ctx) -> None:
    """Write what the unit gathered: the cases, the stream rows, the deliveries (one statement each)."""
    work = batch_of(ctx)
    store, deps = ctx.deps.store, ctx.deps
    await store.save_cases(ctx.conn, list(work.changed.values()), now=ctx.clock.now())
    await store.append_stream(ctx.conn, work.stream, schema=deps.db_schema, channel=deps.stream_channel)
    await store.queue_deliveries(ctx.conn, work.deliveries, now=ctx.clock.now(), wake_channel=deps.delivery_channel)
    work.changed.clear()
    work.stream.clear()
    work.deliveries.clear()


# Every case event takes the same path: the projection's `apply` tells them apart.
HANDLERS: HandlerTable[NotifyDeps] = dict.fromkeys(case_event_types(), on_case_event)


def consumers(rt: NotifyRuntime) -> list[ConsumerSpec[NotifyDeps]]:
    """Notify reads every case event topic."""
    return [
        handler_spec("fanout", list(CASE_EVENT_TOPICS), HANDLERS, deps=NotifyDeps.of(rt), prepare=prepare, flush=flush)
    ]
