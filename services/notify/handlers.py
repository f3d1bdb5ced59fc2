"""Notify's reactions: project every case event, then fan it out to topics, SSE and subscriptions."""

from __future__ import annotations

from typing import Any

import orjson

from services.notify import store, store_delivery
from services.notify.audience import Audience, audience_for
from services.notify.delivery import delivery_channel
from services.notify.projection import CaseState, apply
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


async def fan_out(rt: ServiceRuntime, ctx: HandlerContext, envelope: CloudEvent, audience: Audience) -> None:
    """Audience topics (keyed by case id), the SSE stream table and one delivery per subscription."""
    for topic in audience.topics():
        await ctx.publish(topic, envelope)
    doc = envelope.model_dump(mode="json", exclude_none=True)
    if "stream_locked" not in ctx.batch:  # held until the batch commits; once is enough
        await store.lock_stream(ctx.conn, schema=rt.settings.db_schema)
        ctx.batch["stream_locked"] = True
    await store.append_stream(
        ctx.conn,
        event_id=envelope.id,
        case_id=envelope.subject,
        type_=envelope.type,
        audience=audience,
        envelope=doc,
        channel=stream_channel(rt),
    )
    if "subscriptions" not in ctx.batch:  # read once per consumer batch
        ctx.batch["subscriptions"] = await store_delivery.active_subscriptions(ctx.conn)
    queued = await store_delivery.queue_deliveries(
        ctx.conn,
        subscriptions=ctx.batch["subscriptions"],
        audience=audience,
        event_type=envelope.type,
        event_id=envelope.id,
        envelope=doc,
        now=ctx.clock.now(),
    )
    if queued:
        await ctx.conn.execute("SELECT pg_notify($1, '')", delivery_channel(rt.settings.db_schema))


def make_handler(rt: ServiceRuntime) -> Any:
    """The one handler for every case event type."""

    async def handle(ctx: HandlerContext, envelope: CloudEvent, payload: EventData) -> None:
        case_id = envelope.subject
        before = await store.load_case(ctx.conn, case_id=case_id) or CaseState(case_id=case_id)
        after = apply(before, payload, event_time=envelope.time)
        await store.save_case(ctx.conn, after, now=ctx.clock.now())
        if isinstance(payload, DuplicateLinked):
            await store.add_link(ctx.conn, submission_id=payload.submission_id, case_id=case_id, at=payload.linked_at)
        if after.street is None:
            # Which street office it concerns is not known yet (its intake event is still on the way).
            doc = envelope.model_dump(mode="json", exclude_none=True)
            await store.park(ctx.conn, event_id=envelope.id, case_id=case_id, at=envelope.time, envelope=doc)
            ctx.log.info("event parked until the case's street is known", type=envelope.type)
            return
        submissions = await store.submissions_of(ctx.conn, case_id=case_id)
        pending: list[tuple[CloudEvent, Audience]] = [
            (envelope, audience_for(before=before, after=after, payload=payload, submission_ids=submissions))
        ]
        if before.street is None:
            for doc in await store.unpark(ctx.conn, case_id=case_id):
                parked_env, parked_payload = parse_event(orjson.dumps(doc))
                audience = audience_for(before=after, after=after, payload=parked_payload, submission_ids=submissions)
                pending.append((parked_env, audience))
        for item_envelope, audience in sorted(pending, key=lambda p: p[0].time):
            await fan_out(rt, ctx, item_envelope, audience)

    return handle


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """Notify reads every case event topic."""
    handler = make_handler(rt)
    return [
        ConsumerSpec(name="fanout", topics=list(CASE_EVENT_TOPICS), handlers=dict.fromkeys(case_event_types(), handler))
    ]
