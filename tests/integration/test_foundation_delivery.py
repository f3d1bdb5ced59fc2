"""The data-safety machinery on the real broker and PostgreSQL: inbox, dead letters, outbox relay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from services.routing.main import create_app as create_routing
from services.routing.settings import RoutingSettings
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.topics import DEADLETTER, INTAKE_EVENTS, ROUTING_EVENTS
from tests.helpers import eventually, read_topic, serving


def _need(case_id: str, **overrides: Any) -> NeedSubmitted:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "category": "street_light_out",
        "description": "路灯不亮了",
        "community": "jinrongjie",
        "street": "wanxing",
        "submitted_at": datetime.now(UTC),
    }
    fields.update(overrides)
    return NeedSubmitted(**fields)


async def _produce(bootstrap: str, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value=value, key=key.encode())
    finally:
        await producer.stop()


async def test_redelivered_event_changes_nothing(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> None:
    event = make_event(_need("case-redelivered"), source="/test", subject="case-redelivered", time=datetime.now(UTC))
    raw = event.to_bytes()
    # The same event three times, as a producer retry or a replay after a crash would deliver it.
    await _produce(kafka_bootstrap, f"{prefix}{INTAKE_EVENTS}", [(event.subject, raw)] * 3)
    app = create_routing(make_settings(RoutingSettings))
    async with serving(app):
        conn = await asyncpg.connect(database_url)
        try:
            schema = f"{prefix}routing"
            await eventually(lambda: conn.fetchval(f"SELECT count(*) FROM {schema}.inbox"))
            # A second, later redelivery after the first was applied and committed.
            await _produce(kafka_bootstrap, f"{prefix}{INTAKE_EVENTS}", [(event.subject, raw)])
            routed = await read_topic(
                kafka_bootstrap, f"{prefix}{ROUTING_EVENTS}", until=lambda recs: len(recs) >= 1, timeout=20
            )
            consumer = app.state.runtime.consumers[0]
            await eventually(lambda: _async(consumer.processed >= 1))
            assignments = await conn.fetchval(f"SELECT count(*) FROM {schema}.assignments")
            inbox = await conn.fetchval(f"SELECT count(*) FROM {schema}.inbox")
        finally:
            await conn.close()
    assert assignments == 1
    assert inbox == 1
    assert len([r for r in routed if r.key == b"case-redelivered"]) == 1


async def _async(value: bool) -> bool:
    return value


async def test_poison_messages_go_to_dead_letter_and_the_stream_flows_on(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> None:
    good = make_event(_need("case-good"), source="/test", subject="case-good", time=datetime.now(UTC))
    unknown = good.model_copy(update={"id": "evt-unknown", "type": "lastmeter.no.such.type"})
    invalid = good.model_copy(update={"id": "evt-invalid", "data": {**good.data, "community": None}})
    await _produce(
        kafka_bootstrap,
        f"{prefix}{INTAKE_EVENTS}",
        [
            ("case-x", b"{not json"),
            ("case-y", unknown.to_bytes()),
            ("case-z", invalid.to_bytes()),
            ("case-good", good.to_bytes()),
        ],
    )
    async with serving(create_routing(make_settings(RoutingSettings))):
        dead = await read_topic(kafka_bootstrap, f"{prefix}{DEADLETTER}", until=lambda recs: len(recs) >= 3, timeout=20)
        routed = await read_topic(
            kafka_bootstrap, f"{prefix}{ROUTING_EVENTS}", until=lambda recs: any(r.key == b"case-good" for r in recs)
        )
    reasons = {dict(r.headers)["dlq_reason"].decode() for r in dead}
    assert reasons == {"not-json", "unknown-type", "schema-invalid"}
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["dlq_topic"] == f"{prefix}{INTAKE_EVENTS}"
        assert headers["dlq_offset"].isdigit()
        assert headers["dlq_consumer"] == "decide"
    assert orjson.loads(next(r for r in routed if r.key == b"case-good").value)["data"]["case_id"] == "case-good"


async def test_outbox_rows_left_by_a_crash_are_published_after_restart(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> None:
    """A row committed to the outbox while no relay ran (a crash between commit and publish) still goes out."""
    event = make_event(_need("case-outbox"), source="/test", subject="case-outbox", time=datetime.now(UTC))
    settings = make_settings(RoutingSettings)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}routing.outbox (topic, key, event_id, payload, headers) "
            "VALUES ($1, $2, $3, $4, '{}')",
            f"{prefix}{ROUTING_EVENTS}",
            event.subject,
            event.id,
            event.to_bytes(),
        )
        async with serving(create_routing(settings)):
            records = await read_topic(
                kafka_bootstrap,
                f"{prefix}{ROUTING_EVENTS}",
                until=lambda recs: any(r.key == b"case-outbox" for r in recs),
            )
            await eventually(lambda: _empty(conn, f"{prefix}routing.outbox"))
    finally:
        await conn.close()
    assert [orjson.loads(r.value)["id"] for r in records if r.key == b"case-outbox"] == [event.id]


async def _empty(conn: asyncpg.Connection, table: str) -> bool:
    return await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
