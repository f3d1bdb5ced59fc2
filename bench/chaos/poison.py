"""Poison messages on each case topic, and the check that each reached the dead-letter topic with its reason."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from bench.chaos.invariants import read_all
from shared.topics import DEADLETTER, INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS

# Per topic: an event type its consumers know, for the schema-invalid poison.
KNOWN_TYPE = {
    INTAKE_EVENTS: "lastmeter.need.submitted",
    ROUTING_EVENTS: "lastmeter.case.routed",
    SLA_EVENTS: "lastmeter.sla.deadline_armed",
}


@dataclass
class Poison:
    """One poison message: what it is, where it went, and the reason it must be dead-lettered with."""

    kind: str
    topic: str  # full (prefixed) topic name
    value: bytes
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    partition: int = -1
    offset: int = -1
    reasons: list[str] = field(default_factory=list)  # reasons found in the dead-letter tables

    def expected(self, reason: str) -> bool:
        """Whether a dead-letter reason is the right one for this kind of poison."""
        if self.kind == "missing-case":
            return "case" in reason  # e.g. unknown-case; wording is the consuming service's
        return reason == self.kind


def _envelope(type_: str, case_id: str, data: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/chaos",
            "type": type_,
            "time": datetime.now(UTC).isoformat(),
            "subject": case_id,
            "datacontenttype": "application/json",
            "data": data,
        }
    )


def routed_for_missing_case(case_id: str) -> bytes:
    """A well-formed `case routed` for a case intake never saw (business-impossible)."""
    now = datetime.now(UTC).isoformat()
    return _envelope(
        "lastmeter.case.routed",
        case_id,
        {
            "case_id": case_id,
            "category": "street_light_out",
            "description": "chaos: routed, but never submitted",
            "community": "jinrongjie",
            "street": "wanxing",
            "assignee": {"kind": "department", "code": "urban_mgmt"},
            "attempt": 1,
            "submitted_at": now,
            "routed_at": now,
        },
    )


def poisons(topic_prefix: str) -> list[Poison]:
    """Not JSON, unknown type, schema-invalid on every case topic; a missing case on routing's topic."""
    out = []
    for topic, known in KNOWN_TYPE.items():
        full = f"{topic_prefix}{topic}"
        case_id = str(uuid.uuid4())
        out += [
            Poison("not-json", full, b"{this is not json", key=case_id),
            Poison("unknown-type", full, _envelope("lastmeter.chaos.bogus", case_id, {}), key=case_id),
            Poison("schema-invalid", full, _envelope(known, case_id, {"case_id": case_id}), key=case_id),
        ]
    missing = str(uuid.uuid4())
    out.append(Poison("missing-case", f"{topic_prefix}{ROUTING_EVENTS}", routed_for_missing_case(missing), key=missing))
    return out


async def inject(bootstrap: str, items: list[Poison]) -> None:
    """Produce each poison and remember where it landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for p in items:
            meta = await producer.send_and_wait(p.topic, p.value, key=p.key.encode())
            p.partition, p.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


async def dead_letter_rows(dsn: str, schema_prefix: str) -> list[asyncpg.Record]:
    """Every service's dead-letter rows, with the service name."""
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = []
        for service in ("intake", "routing", "sla", "notify"):
            rows += await conn.fetch(
                f"SELECT '{service}' AS service, id, consumer, topic, partition, \"offset\", reason, replayed_at "
                f"FROM {schema_prefix}{service}.dead_letters ORDER BY id"
            )
        return rows
    finally:
        await conn.close()


async def check(*, dsn: str, bootstrap: str, schema_prefix: str, topic_prefix: str, items: list[Poison]) -> list[str]:
    """Problems: a poison not dead-lettered, dead-lettered with the wrong reason, or missing from the topic."""
    rows = await dead_letter_rows(dsn, schema_prefix)
    on_topic = {
        (h.get("dlq_topic", b"").decode(), h.get("dlq_offset", b"").decode(), h.get("dlq_partition", b"").decode())
        for _, h in await read_all(bootstrap, f"{topic_prefix}{DEADLETTER}")
    }
    problems = []
    for p in items:
        mine = [r for r in rows if (r["topic"], r["partition"], r["offset"]) == (p.topic, p.partition, p.offset)]
        p.reasons = [f"{r['service']}:{r['reason']}" for r in mine]
        if not mine:
            problems.append(f"{p.kind} on {p.topic}@{p.partition}/{p.offset}: not dead-lettered")
        elif not any(p.expected(r["reason"]) for r in mine):
            problems.append(f"{p.kind} on {p.topic}: dead-lettered as {p.reasons}")
        if (p.topic, str(p.offset), str(p.partition)) not in on_topic:
            problems.append(f"{p.kind} on {p.topic}@{p.partition}/{p.offset}: not on the dead-letter topic")
    return problems
