"""One oversized row never blocks an outbox: refused at write time (routing's catalogue PUT answers 413),
and a row that still fails as too large at publish time is dead-lettered so the rows after it flow."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.catalogue import Catalogue
from shared.db import create_pool, migrate
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.kafka import MAX_REQUEST_BYTES, ensure_topics, make_producer
from shared.outbox import Outbox, OutboxRelay, OutgoingMessage
from tests.helpers import bearer, read_topic, serving


def _need(case_id: str) -> Any:
    need = NeedSubmitted(
        case_id=case_id,
        category="street_light_out",
        description="路灯不亮了",
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime.now(UTC),
    )
    return make_event(need, source="/test", subject=case_id, time=datetime.now(UTC))


async def test_a_row_too_large_to_publish_is_dead_lettered_and_the_rows_after_it_flow(
    kafka_bootstrap: str, database_url: str
) -> None:
    schema = f"t{uuid.uuid4().hex[:10]}_relay"
    topic = f"{schema}.events"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    await migrate(database_url, schema=schema, directories=[])
    pool = await create_pool(database_url, schema=schema, min_size=1, max_size=2)
    producer = make_producer(kafka_bootstrap, client_id=schema)
    await producer.start()
    try:
        outbox = Outbox(schema=schema, topic_prefix=f"{schema}.")
        async with pool.acquire() as conn, conn.transaction():
            # Written before the write-time check existed (or under a larger limit): too large for the producer.
            big = OutgoingMessage(
                topic=topic, key="case-big", event_id="big", payload=b"x" * (MAX_REQUEST_BYTES + 1), headers={}
            )
            await outbox.add_messages(conn, [big])
            await outbox.add(conn, "events", _need("case-after"))
        relay = OutboxRelay(pool=pool, dsn=database_url, producer=producer, outbox=outbox)
        assert await relay.publish_batch() == 2
        left = await pool.fetchval("SELECT count(*) FROM outbox")
        dead = await pool.fetch(
            "SELECT consumer, topic, key, reason, detail, length(payload) AS size FROM dead_letters"
        )
        records = await read_topic(kafka_bootstrap, topic, until=lambda rs: len(rs) >= 1)
    finally:
        await producer.stop()
        await pool.close()
        conn = await asyncpg.connect(database_url)
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
    assert left == 0
    assert [(r["consumer"], r["topic"], r["key"], r["reason"]) for r in dead] == [
        ("outbox", topic, "case-big", "too-large")
    ]
    assert "MessageSizeTooLargeError" in dead[0]["detail"]
    assert dead[0]["size"] == MAX_REQUEST_BYTES + 1  # kept whole, for an operator to look at
    assert [r.key for r in records] == [b"case-after"]


async def test_a_catalogue_too_large_to_publish_is_refused_with_413_naming_the_body(
    make_settings: Callable[..., Any], keys: dict[str, Any], catalogue: Catalogue, database_url: str, prefix: str
) -> None:
    admin = {**bearer(keys["admin"]), "Content-Type": "application/json"}
    big = copy.deepcopy(catalogue.to_dict())
    pothole = next(c for c in big["categories"] if c["code"] == "pothole")
    # ~1.6 MB: under routing's 5 MB body limit, over what the broker takes as one event.
    pothole["keywords"] = {"zh": [f"坑洼{i:06d}" for i in range(80_000)], "en": []}
    body = orjson.dumps(big)
    assert 1_000_000 < len(body) < 5_000_000
    async with serving(create_app(make_settings(RoutingSettings))) as client:
        resp = await client.put("/v1/catalogue", content=body, headers=admin)
        after = (await client.get("/v1/catalogue")).json()
    assert resp.status_code == 413, resp.text
    problem = resp.json()
    assert problem["error"] == "payload_too_large"
    assert problem["fields"][0]["field"] == "body"
    assert "bytes the broker accepts" in problem["message"]
    assert after["version"] == catalogue.version  # nothing applied, nothing stored
    conn = await asyncpg.connect(database_url)
    try:
        queued = await conn.fetchval(f"SELECT count(*) FROM {prefix}routing.outbox WHERE topic LIKE '%catalogue%'")
    finally:
        await conn.close()
    assert queued == 0
