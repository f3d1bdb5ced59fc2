"""Every message on every topic parses with the CloudEvents SDK's Kafka binding (real broker, four services)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.v1 import kafka as ce_kafka_v1

from services.routing.main import create_app as create_routing
from services.routing.settings import RoutingSettings
from shared.events import known_types, make_event
from shared.events.binding import DEAD_LETTER_TYPE, STRUCTURED_CONTENT_TYPE
from shared.events.intake import NeedSubmitted
from shared.topics import DEADLETTER, INTAKE_EVENTS, ROUTING_EVENTS
from tests.helpers import bearer, eventually, read_topic, serving
from tests.integration.live_stack import four_services, read_all, topics_with_prefix

POISON = b"{not json at all"


def _sdk_message(record: ConsumerRecord) -> ce_kafka.KafkaMessage:
    return ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)


def _types(records: list[ConsumerRecord], topic: str, case_id: str) -> set[str]:
    return {orjson.loads(r.value)["type"] for r in records if r.topic == topic and r.key == case_id.encode()}


async def test_every_topic_parses_with_the_cloudevents_sdk(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    admin = bearer(keys["admin"])
    async with four_services(make_settings) as stack:
        # A catalogue version, so catalogue.events carries one.
        full = (await stack.routing.get("/v1/catalogue?full=true", headers=admin)).json()["catalogue"]
        edited = copy.deepcopy(full)
        edited["departments"][0]["name_en"] = f"{edited['departments'][0].get('name_en') or 'dept'} (renamed)"
        changed = await stack.routing.put(
            "/v1/catalogue", content=orjson.dumps(edited), headers={**admin, "Content-Type": "application/json"}
        )
        assert changed.status_code == 200, changed.text
        resp = await stack.intake.post(
            "/v1/needs",
            json={"category": "street_light_out", "description": "金融街3号楼前路灯不亮了", "community": "jinrongjie"},
        )
        assert resp.status_code == 202, resp.text
        case_id = resp.json()["case_id"]
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False)
        await producer.start()
        try:  # poison every consumer of intake.events dead-letters
            await producer.send_and_wait(f"{prefix}{INTAKE_EVENTS}", value=POISON, key=b"case-poison")
        finally:
            await producer.stop()

        def complete(records: list[ConsumerRecord]) -> bool:
            return (
                "lastmeter.case.routed" in _types(records, f"{prefix}routing.events", case_id)
                and "lastmeter.sla.deadline_armed" in _types(records, f"{prefix}sla.events", case_id)
                and "lastmeter.case.routed" in _types(records, f"{prefix}street.wanxing", case_id)
                and any(r.topic == f"{prefix}catalogue.events" for r in records)
                and len([r for r in records if r.topic == f"{prefix}{DEADLETTER}"]) >= 3  # routing, sla, notify
            )

        topics = await topics_with_prefix(kafka_bootstrap, prefix)
        records = await read_all(kafka_bootstrap, topics, until=complete, within=60)

    case_types = set(known_types())
    seen_topics: set[str] = set()
    injected = [r for r in records if r.topic == f"{prefix}{INTAKE_EVENTS}" and r.key == b"case-poison"]
    assert [r.value for r in injected] == [POISON]  # the test's own poison, not written by lastmeter
    for record in records:
        if record in injected:
            continue
        headers = dict(record.headers)
        event = ce_kafka.from_kafka_event(_sdk_message(record))  # detects the mode as the binding says
        assert event.get_specversion() == "1.0"
        assert event.get_id()
        assert event.get_source().startswith("/lastmeter/")
        assert event.get_subject() == record.key.decode(), record.topic
        seen_topics.add(record.topic.removeprefix(prefix))
        if record.topic == f"{prefix}{DEADLETTER}":
            assert event.get_type() == DEAD_LETTER_TYPE
            assert record.value == POISON  # the failed bytes, unchanged
            assert headers["content-type"] == b"application/octet-stream"
            assert headers["dlq_reason"] == b"not-json"
            assert headers["dlq_topic"] == f"{prefix}{INTAKE_EVENTS}".encode()
            v1 = ce_kafka_v1.from_binary(
                ce_kafka_v1.KafkaMessage(headers, record.key, record.value), data_unmarshaller=lambda b: b
            )
        else:
            assert headers == {"content-type": STRUCTURED_CONTENT_TYPE.encode()}  # structured: no ce_ header
            assert event.get_type() in case_types
            assert event.get_data() == orjson.loads(record.value)["data"]
            v1 = ce_kafka_v1.from_structured(ce_kafka_v1.KafkaMessage(headers, record.key, record.value))
        assert v1["id"] == event.get_id()
        assert v1["type"] == event.get_type()
        assert v1["subject"] == record.key.decode()
    dept = next(t for t in seen_topics if t.startswith("dept."))
    assert {"intake.events", "routing.events", "sla.events", "catalogue.events", "deadletter", "street.wanxing"} < (
        seen_topics
    ), seen_topics
    assert _types(records, f"{prefix}{dept}", case_id)  # the assigned department's own topic
    sources = {dict(r.headers)[b"ce_source".decode()] for r in records if r.topic == f"{prefix}{DEADLETTER}"}
    assert len(sources) >= 3  # one dead letter per consumer group that gave up on it, each its own source


def _need(case_id: str) -> NeedSubmitted:
    return NeedSubmitted(
        case_id=case_id,
        category="street_light_out",
        description="路灯不亮了",
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime.now(UTC),
    )


async def test_consumers_take_messages_written_before_the_binding_and_after(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> None:
    now = datetime.now(UTC)
    old = make_event(_need("case-old-style"), source="/lastmeter/intake", subject="case-old-style", time=now)
    new = make_event(_need("case-new-style"), source="/lastmeter/intake", subject="case-new-style", time=now)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        topic = f"{prefix}{INTAKE_EVENTS}"
        # As intake wrote them before: a structured body with a lone ce_type header and no content-type.
        await producer.send_and_wait(
            topic, value=old.to_bytes(), key=old.subject.encode(), headers=[("ce_type", old.type.encode())]
        )
        await producer.send_and_wait(
            topic,
            value=new.to_bytes(),
            key=new.subject.encode(),
            headers=[("content-type", STRUCTURED_CONTENT_TYPE.encode())],
        )
    finally:
        await producer.stop()
    async with serving(create_routing(make_settings(RoutingSettings))):
        routed = await read_topic(
            kafka_bootstrap,
            f"{prefix}{ROUTING_EVENTS}",
            until=lambda rs: {r.key for r in rs} >= {b"case-old-style", b"case-new-style"},
            timeout=30,
        )
        conn = await asyncpg.connect(database_url)
        try:
            await eventually(lambda: conn.fetchval(f"SELECT count(*) = 2 FROM {prefix}routing.inbox"))
            dead = await conn.fetchval(f"SELECT count(*) FROM {prefix}routing.dead_letters")
        finally:
            await conn.close()
    assert dead == 0
    assert {orjson.loads(r.value)["type"] for r in routed} == {"lastmeter.case.routed"}
    assert all(dict(r.headers) == {"content-type": STRUCTURED_CONTENT_TYPE.encode()} for r in routed)
