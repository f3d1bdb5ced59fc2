"""Set-wise handlers: `prepare` and `flush` bracket a whole batch, or one event while a batch with
poison in it is redone carefully, so the good events' effects all land once (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from services.routing.main import create_app as create_routing
from services.routing.settings import RoutingSettings
from shared.clock import SystemClock
from shared.consumer import EventConsumer
from shared.db import create_pool, migrate
from shared.events import CloudEvent, PoisonMessage, make_event
from shared.events.intake import NeedSubmitted
from shared.handlers import ConsumerSpec, HandlerContext
from shared.outbox import Outbox
from shared.topics import INTAKE_EVENTS
from tests.helpers import consumer_record, serving


def _record(offset: int, event: CloudEvent) -> ConsumerRecord:
    return consumer_record("intake.events", offset, event)


def _need(case_id: str) -> CloudEvent:
    need = NeedSubmitted(
        case_id=case_id,
        category="street_light_out",
        description="路灯不亮了",
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime.now(UTC),
    )
    return make_event(need, source="/test", subject=case_id, time=datetime.now(UTC))


class Recorder:
    """A set-wise consumer: handlers only gather case ids; flush writes them in one statement."""

    def __init__(self) -> None:
        self.units: list[list[str]] = []  # the case ids each prepare saw

    async def prepare(self, ctx: HandlerContext, events: Sequence[tuple[CloudEvent, Any]]) -> None:
        self.units.append([envelope.subject for envelope, _ in events])
        ctx.scratch("seen", list)

    async def handle(self, ctx: HandlerContext, envelope: CloudEvent, payload: Any) -> None:
        if envelope.subject == "case-poison":
            raise PoisonMessage("unknown-case", "no such case")
        ctx.scratch("seen", list).append(envelope.subject)

    async def flush(self, ctx: HandlerContext) -> None:
        await ctx.conn.execute("INSERT INTO effects (case_id) SELECT unnest($1::text[])", ctx.scratch("seen", list))


async def test_prepare_and_flush_bracket_a_batch_and_each_event_when_redone_carefully(
    database_url: str, prefix: str
) -> None:
    schema = f"{prefix}hooks"
    await migrate(database_url, schema=schema, directories=[])
    pool = await create_pool(database_url, schema=schema, min_size=1, max_size=2)
    try:
        await pool.execute("CREATE TABLE effects (case_id text NOT NULL)")
        recorder = Recorder()
        spec = ConsumerSpec(
            name="hooks",
            topics=["intake.events"],
            handlers={NeedSubmitted: recorder.handle},
            deps=None,
            prepare=recorder.prepare,
            flush=recorder.flush,
        )
        consumer = EventConsumer(
            spec=spec,
            bootstrap_servers="127.0.0.1:1",  # never started: `apply` needs only PostgreSQL
            group_id="hooks",
            topic_prefix="",
            pool=pool,
            outbox=Outbox(schema=schema, topic_prefix=""),
            clock=SystemClock(),
        )
        good = [_record(i, _need(f"case-{i}")) for i in range(3)]
        await consumer.apply(good)
        assert recorder.units == [["case-0", "case-1", "case-2"]]  # one unit for the whole batch

        recorder.units.clear()
        mixed = [_record(10, _need("case-10")), _record(11, _need("case-poison")), _record(12, _need("case-12"))]
        await consumer._apply_until_done(mixed)  # the poison forces the careful redo, event by event
        effects = sorted(await pool.fetchval("SELECT array_agg(case_id) FROM effects"))
        dead = await pool.fetch("SELECT reason FROM dead_letters")
    finally:
        await pool.close()
        conn = await asyncpg.connect(database_url)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    assert recorder.units[0] == ["case-10", "case-poison", "case-12"]  # the whole batch tried first
    assert recorder.units[1:] == [["case-10"], ["case-poison"], ["case-12"]]  # then one unit per event
    assert effects == ["case-0", "case-1", "case-10", "case-12", "case-2"]  # each good effect once
    assert [r["reason"] for r in dead] == ["unknown-case"]


async def test_routing_records_a_batch_of_needs_set_wise_and_isolates_the_poison_among_them(
    make_settings: Any, keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    first = _need("case-a")
    again = make_event(NeedSubmitted.model_validate(first.data), source="/test", subject="case-a", time=first.time)
    nowhere = _need("case-nowhere")
    nowhere = nowhere.model_copy(update={"data": {**nowhere.data, "street": "atlantis"}})
    batch = [first, _need("case-b"), again, nowhere, _need("case-c")]
    app = create_routing(make_settings(RoutingSettings))
    async with serving(app):
        consumer = app.state.runtime.consumers[0]
        await consumer._apply_until_done([consumer_record(INTAKE_EVENTS, i, e) for i, e in enumerate(batch)])
        conn = await asyncpg.connect(database_url)
        try:
            schema = f"{prefix}routing"
            cases = await conn.fetch(f"SELECT case_id, status, attempt FROM {schema}.cases ORDER BY case_id")
            assignments = await conn.fetch(f"SELECT case_id, attempt FROM {schema}.assignments ORDER BY case_id")
            dead = await conn.fetch(f"SELECT key, reason FROM {schema}.dead_letters")
        finally:
            await conn.close()
    # The same case under a second event id is routed once; the unknown street rolls back alone.
    assert [tuple(r) for r in cases] == [("case-a", "routed", 1), ("case-b", "routed", 1), ("case-c", "routed", 1)]
    assert [tuple(r) for r in assignments] == [("case-a", 1), ("case-b", 1), ("case-c", 1)]
    assert [tuple(r) for r in dead] == [("case-nowhere", "unknown-street")]
