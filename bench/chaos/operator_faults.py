"""The faults an operator meets (issue 14, item 5), each injected into the running stack and checked.

- an event whose handling fails identically forever (a trigger makes one case's insert time out);
- an outbox row the broker can never take (a catalogue too large, and a row written anyway);
- sla down while a `case.signed` before the deadline sits in its backlog, back after the deadline.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

from bench.chaos.invariants import read_all
from bench.chaos.poison import Poison
from shared.kafka import MAX_REQUEST_BYTES, cached_partitioner
from shared.topics import INTAKE_EVENTS, SLA_EVENTS

STALL_REASON = "retries-exhausted"
FAST_CLASS = "chaos_fast"
FAST_CATEGORY = "chaos_fast_check"
FAST_RESPONSE_S = 20


@dataclass
class Stall:
    """The poison that times out forever, and what was accepted behind it on its partition."""

    poison: Poison
    partitions: int
    accepted_before: set[str] = field(default_factory=set)

    def behind(self, accepted: dict[int, str]) -> list[str]:
        """Cases accepted after the poison whose events share its partition."""
        parts = list(range(self.partitions))
        return [
            c
            for c in accepted.values()
            if c not in self.accepted_before and cached_partitioner(c.encode(), parts, parts) == self.poison.partition
        ]


def _need_submitted(case_id: str) -> bytes:
    """A well-formed `need submitted`: nothing wrong with it but the row it makes in routing."""
    now = datetime.now(UTC).isoformat()
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/chaos",
            "type": "lastmeter.need.submitted",
            "time": now,
            "subject": case_id,
            "datacontenttype": "application/json",
            "data": {
                "case_id": case_id,
                "category": "street_light_out",
                "description": "chaos: this case's row times out on every try",
                "community": "jinrongjie",
                "street": "wanxing",
                "submitted_at": now,
            },
        }
    )


async def inject_stall(*, dsn: str, bootstrap: str, schema_prefix: str, topic_prefix: str) -> Stall:
    """Make routing's insert of one case fail with a statement timeout on every try, then publish that case."""
    case_id = str(uuid.uuid4())
    schema = f"{schema_prefix}routing"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE OR REPLACE FUNCTION {schema}.chaos_stall() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.case_id = '{case_id}' THEN "
            "RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = '57014'; "
            "END IF; RETURN NEW; END $$"
        )
        await conn.execute(
            f"CREATE TRIGGER chaos_stall BEFORE INSERT ON {schema}.cases "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}.chaos_stall()"
        )
    finally:
        await conn.close()
    topic = f"{topic_prefix}{INTAKE_EVENTS}"
    stall = Poison(STALL_REASON, topic, _need_submitted(case_id), key=case_id)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        partitions = len(await producer.partitions_for(topic))
        meta = await producer.send_and_wait(topic, stall.value, key=case_id.encode())
        stall.partition, stall.offset = meta.partition, meta.offset
    finally:
        await producer.stop()
    return Stall(stall, partitions)


async def routed_cases(dsn: str, schema_prefix: str, case_ids: list[str]) -> set[str]:
    """Which of these cases routing has recorded."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            f"SELECT case_id FROM {schema_prefix}routing.cases WHERE case_id = ANY($1::text[])", case_ids
        )
    finally:
        await conn.close()
    return {r["case_id"] for r in rows}


async def oversized_catalogue(routing_url: str, admin_key: str) -> tuple[int, dict[str, Any], int]:
    """PUT a catalogue under routing's 5 MB body limit but over the broker's 1 MB: (status, body, size)."""
    headers = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=routing_url, timeout=60) as client:
        current = (await client.get("/v1/catalogue?full=true", headers=headers)).json()
        big = copy.deepcopy(current["catalogue"])
        big["version"] = current["version"]
        big["categories"][0]["keywords"] = {"zh": [f"坑洼{i:06d}" for i in range(80_000)], "en": []}
        body = orjson.dumps(big)
        resp = await client.put("/v1/catalogue", content=body, headers=headers)
    try:
        answer = resp.json()
    except ValueError:
        answer = {"raw": resp.text[:200]}
    return resp.status_code, answer, len(body)


async def queue_oversized_row(dsn: str, schema: str, topic: str) -> str:
    """Write a row the producer will refuse straight into a service's outbox (as if written before the check)."""
    key = f"chaos-oversized-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"INSERT INTO {schema}.outbox (topic, key, event_id, payload, headers) VALUES ($1, $2, $3, $4, '{{}}')",
            topic,
            key,
            key,
            b"x" * (MAX_REQUEST_BYTES + 1024),
        )
    finally:
        await conn.close()
    return key


async def outbox_dead_letter(dsn: str, schema: str, key: str) -> str | None:
    """The reason the relay dead-lettered that row with, if it did."""
    conn = await asyncpg.connect(dsn)
    try:
        reason: str | None = await conn.fetchval(
            f"SELECT reason FROM {schema}.dead_letters WHERE consumer = 'outbox' AND key = $1", key
        )
        return reason
    finally:
        await conn.close()


@dataclass
class SignedCase:
    """The case signed in time while sla was down."""

    case_id: str
    due_at: datetime
    signed_at: datetime | None = None


async def add_fast_class(routing_url: str, admin_key: str) -> None:
    """A catalogue change: an SLA class whose response clock runs FAST_RESPONSE_S seconds, and a category on it."""
    headers = {"Authorization": f"Bearer {admin_key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=routing_url, timeout=30) as client:
        current = (await client.get("/v1/catalogue?full=true", headers=headers)).json()
        cat = copy.deepcopy(current["catalogue"])
        if any(c["code"] == FAST_CATEGORY for c in cat["categories"]):
            return
        template = next(c for c in cat["sla_classes"] if c["code"] == "emergency")
        cat["sla_classes"].append(
            {**template, "code": FAST_CLASS, "name": "chaos", "response": f"{FAST_RESPONSE_S}s", "warn_at": []}
        )
        base = next(c for c in cat["categories"] if c["code"] == "street_light_out")
        cat["categories"].append(
            {
                **base,
                "code": FAST_CATEGORY,
                "name": "chaos check",
                "name_en": "chaos check",
                "sla_class": FAST_CLASS,
                "keywords": {"zh": [], "en": []},
                "attributes": [],
            }
        )
        cat["version"] = current["version"]
        resp = await client.put("/v1/catalogue", content=orjson.dumps(cat), headers=headers)
        if resp.status_code != 200:
            raise RuntimeError(f"catalogue PUT answered {resp.status_code}: {resp.text[:300]}")


async def submit_fast_case(intake_url: str, *, within: float = 30.0) -> str:
    """Submit a need in the fast category (retried until intake has applied the new catalogue)."""
    body = {"category": FAST_CATEGORY, "description": "chaos: sign me in time", "community": "jinrongjie"}
    deadline = time.perf_counter() + within
    async with httpx.AsyncClient(base_url=intake_url, timeout=10) as client:
        while True:
            resp = await client.post("/v1/needs", json=body)
            if resp.status_code == 202:
                case_id: str = resp.json()["case_id"]
                return case_id
            if time.perf_counter() > deadline:
                raise RuntimeError(f"intake never took the {FAST_CATEGORY} need: {resp.status_code} {resp.text[:200]}")
            await asyncio.sleep(0.5)


async def armed_response(dsn: str, schema_prefix: str, case_id: str, *, within: float = 30.0) -> datetime:
    """Wait until sla armed the case's response deadline; its due time."""
    deadline = time.perf_counter() + within
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            due: datetime | None = await conn.fetchval(
                f"SELECT due_at FROM {schema_prefix}sla.deadlines WHERE case_id = $1 AND kind = 'response'", case_id
            )
            if due is not None:
                return due
            if time.perf_counter() > deadline:
                raise RuntimeError(f"sla never armed the response deadline of {case_id}")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def sign(routing_url: str, keys: dict[str, Any], case_id: str) -> int:
    """Sign the case as its assignee (the department routing chose); the HTTP status."""
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    async with httpx.AsyncClient(base_url=routing_url, timeout=10) as client:
        view = (await client.get(f"/v1/cases/{case_id}", headers=admin)).json()
        code = view["assignee"]["code"]
        key = keys["departments"][code]
        resp = await client.post(f"/v1/cases/{case_id}/sign", headers={"Authorization": f"Bearer {key}"})
        return resp.status_code


async def response_state(dsn: str, schema_prefix: str, case_id: str) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        state: str | None = await conn.fetchval(
            f"SELECT state FROM {schema_prefix}sla.deadlines WHERE case_id = $1 AND kind = 'response'", case_id
        )
        return state
    finally:
        await conn.close()


async def sla_alarms(bootstrap: str, topic_prefix: str, case_id: str) -> list[str]:
    """Every breach or escalation sla published for the case."""
    alarming = {"lastmeter.sla.breached", "lastmeter.sla.escalated"}
    out = []
    for value, _ in await read_all(bootstrap, f"{topic_prefix}{SLA_EVENTS}"):
        try:
            envelope = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            continue
        if isinstance(envelope, dict) and envelope.get("subject") == case_id and envelope.get("type") in alarming:
            data = envelope.get("data") or {}
            out.append(f"{envelope['type']}({data.get('kind', '')} {data.get('level', '')})".strip())
    return out
