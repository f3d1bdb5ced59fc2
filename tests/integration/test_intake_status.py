"""Intake follows routing and sla events (out of order too) and takes the resident's callback answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from shared.catalogue import Catalogue
from shared.events import Assignee, EventData, make_event
from shared.events.routing import (
    CaseAwaitingResident,
    CaseClosed,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseRouted,
    CaseSigned,
)
from shared.events.sla import DeadlineArmed
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS, SLA_EVENTS
from tests.helpers import bearer, eventually, read_topic
from tests.integration.test_intake_needs import Stack, running_intake

WATER = Assignee(kind="department", code="water")


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[Stack]:
    async with running_intake(kafka_bootstrap, database_url, catalogue) as running:
        yield running


async def _produce(bootstrap: str, topic: str, events: list[tuple[str, EventData]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for case_id, data in events:
            event = make_event(data, source="/test", subject=case_id, time=datetime.now(UTC))
            await producer.send_and_wait(topic, value=event.to_bytes(), key=case_id.encode())
    finally:
        await producer.stop()


async def _submit(client: httpx.AsyncClient, description: str) -> dict[str, Any]:
    resp = await client.post(
        "/v1/needs", json={"category": "water_outage", "description": description, "community": "huazhangli"}
    )
    assert resp.status_code == 202, resp.text
    return resp.json()


def _routed(case_id: str, at: datetime) -> CaseRouted:
    return CaseRouted(
        case_id=case_id,
        category="water_outage",
        description="停水",
        community="huazhangli",
        street="wanxing",
        assignee=WATER,
        submitted_at=at,
        routed_at=at,
    )


async def test_status_timeline_and_open311_fields_follow_events_in_event_time(
    stack: Stack, kafka_bootstrap: str
) -> None:
    client = stack.client
    need = await _submit(client, "华章里5号楼停水了")
    case_id, token = need["case_id"], need["access_token"]
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    due = t0 + timedelta(hours=24)
    # Signed (t0+2) arrives before routed (t0): the later event keeps its status.
    await _produce(
        kafka_bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [
            (case_id, CaseSigned(case_id=case_id, assignee=WATER, signed_at=t0 + timedelta(minutes=2))),
            (case_id, _routed(case_id, t0)),
            (case_id, CaseProgressed(case_id=case_id, assignee=WATER, note="已派维修工", at=t0 + timedelta(minutes=5))),
        ],
    )
    await _produce(
        kafka_bootstrap,
        f"{stack.prefix}{SLA_EVENTS}",
        [
            (case_id, DeadlineArmed(case_id=case_id, kind="response", started_at=t0, due_at=t0)),
            (case_id, DeadlineArmed(case_id=case_id, kind="resolution", started_at=t0, due_at=due)),
        ],
    )

    async def progressed() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/cases/{case_id}", headers=bearer(token))).json()
        done = view["status"] == "in_progress" and len(view["timeline"]) == 4 and view["expected_at"]
        return view if done else None

    view = await eventually(progressed, timeout=20)
    assert [t["status"] for t in view["timeline"]] == ["submitted", "routed", "signed", "in_progress"]
    assert view["assigned_to"] == {"kind": "department", "code": "water"}
    assert view["status_notes"] == "已派维修工"
    assert datetime.fromisoformat(view["expected_at"]) == due
    # A late, older event (routed again at t0+1) changes neither the status nor the latest note.
    await _produce(
        kafka_bootstrap, f"{stack.prefix}{ROUTING_EVENTS}", [(case_id, _routed(case_id, t0 + timedelta(minutes=1)))]
    )

    async def five_lines() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/cases/{case_id}", headers=bearer(token))).json()
        return view if len(view["timeline"]) == 5 else None

    view = await eventually(five_lines, timeout=20)
    assert view["status"] == "in_progress"
    assert view["status_notes"] == "已派维修工"
    # The assignee's note is for staff; the public sees only a note marked public (none here).
    public = (await client.get(f"/open311/v2/requests/{case_id}.json")).json()[0]
    assert public["status_notes"] is None
    office = bearer(stack.keys["street_offices"]["wanxing"])
    open311 = (await client.get(f"/open311/v2/requests/{case_id}.json", headers=office)).json()[0]
    assert open311["status"] == "open"
    assert open311["agency_responsible"] == "水务集团"
    assert open311["status_notes"] == "已派维修工"
    assert datetime.fromisoformat(open311["expected_datetime"]) == due


async def test_event_about_an_unknown_case_is_dead_lettered(
    stack: Stack, kafka_bootstrap: str, database_url: str
) -> None:
    now = datetime.now(UTC)
    await _produce(kafka_bootstrap, f"{stack.prefix}{ROUTING_EVENTS}", [("no-such-case", _routed("no-such-case", now))])
    # A response deadline only proves the case exists; intake stores nothing for it.
    armed = DeadlineArmed(case_id="no-such-case-2", kind="response", started_at=now, due_at=now + timedelta(hours=2))
    await _produce(kafka_bootstrap, f"{stack.prefix}{SLA_EVENTS}", [("no-such-case-2", armed)])
    conn = await asyncpg.connect(database_url)
    try:
        query = f"SELECT key, reason FROM {stack.prefix}intake.dead_letters WHERE key LIKE 'no-such-case%' ORDER BY key"
        dead = await eventually(lambda: _rows_when(conn, query, 2), timeout=20)
    finally:
        await conn.close()
    assert [tuple(r) for r in dead] == [("no-such-case", "unknown-case"), ("no-such-case-2", "unknown-case")]


async def _rows_when(conn: asyncpg.Connection, query: str, n: int) -> list[asyncpg.Record] | None:
    rows = await conn.fetch(query)
    return rows if len(rows) >= n else None


async def test_callback_after_resolution_publishes_feedback_once_per_round(stack: Stack, kafka_bootstrap: str) -> None:
    client = stack.client
    need = await _submit(client, "华章里7号楼水压低, 几乎没水")
    case_id, token = need["case_id"], need["access_token"]
    answer = {"solved": False, "satisfaction": "dissatisfied", "comment": "水还是很小"}
    early = await client.post(f"/v1/cases/{case_id}/feedback", json=answer, headers=bearer(token))
    assert early.status_code == 409
    other = await _submit(client, "华章里9号楼断水")
    wrong_token = await client.post(f"/v1/cases/{case_id}/feedback", json=answer, headers=bearer(other["access_token"]))
    assert wrong_token.status_code == 403
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    await _produce(
        kafka_bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [
            (case_id, _routed(case_id, t0)),
            (
                case_id,
                CaseResolved(case_id=case_id, assignee=WATER, note="已修复阀门", resolved_at=t0 + timedelta(hours=1)),
            ),
        ],
    )

    async def resolved() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/cases/{case_id}", headers=bearer(token))).json()
        return view if view["status"] == "resolved" else None

    view = await eventually(resolved, timeout=20)
    assert view["feedback_round"] == 1
    assert view["open311_status"] == "closed"
    bad = await client.post(
        f"/v1/cases/{case_id}/feedback", json={**answer, "satisfaction": "meh"}, headers=bearer(token)
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "satisfaction"
    first = await client.post(f"/v1/cases/{case_id}/feedback", json=answer, headers=bearer(token))
    assert first.status_code == 201, first.text
    assert first.json() == {"case_id": case_id, "round": 1, "reopen": True, "counted": True}
    twice = await client.post(f"/v1/cases/{case_id}/feedback", json={**answer, "solved": True}, headers=bearer(token))
    assert twice.status_code == 409
    records = await read_topic(
        kafka_bootstrap,
        f"{stack.prefix}{INTAKE_EVENTS}",
        until=lambda recs: any(b"feedback_received" in (r.value or b"") for r in recs),
        timeout=20,
    )
    feedback = [orjson.loads(r.value)["data"] for r in records if b"feedback_received" in (r.value or b"")]
    assert len(feedback) == 1
    assert feedback[0]["case_id"] == case_id
    assert feedback[0]["round"] == 1
    assert feedback[0]["reopen"] is True
    assert feedback[0]["satisfaction"] == "dissatisfied"
    # Routing reopens (round 2), resolves again, and this time the resident is satisfied.
    await _produce(
        kafka_bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [
            (
                case_id,
                CaseReopened(
                    case_id=case_id, assignee=WATER, round=2, reason="dissatisfied", reopened_at=t0 + timedelta(hours=2)
                ),
            ),
            (
                case_id,
                CaseAwaitingResident(case_id=case_id, assignee=WATER, note="等居民在家", at=t0 + timedelta(hours=3)),
            ),
            (
                case_id,
                CaseResolved(
                    case_id=case_id, assignee=WATER, note="更换水表", round=2, resolved_at=t0 + timedelta(hours=4)
                ),
            ),
        ],
    )

    async def round_two() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/cases/{case_id}", headers=bearer(token))).json()
        return view if view["feedback_round"] == 2 else None

    await eventually(round_two, timeout=20)
    second = await client.post(
        f"/v1/cases/{case_id}/feedback",
        json={"solved": True, "satisfaction": "basically_satisfied"},
        headers=bearer(token),
    )
    assert second.json() == {"case_id": case_id, "round": 2, "reopen": False, "counted": True}
    await _produce(
        kafka_bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [(case_id, CaseClosed(case_id=case_id, assignee=WATER, solved=True, closed_at=t0 + timedelta(hours=5)))],
    )

    async def closed() -> dict[str, Any] | None:
        view = (await client.get(f"/v1/cases/{case_id}", headers=bearer(token))).json()
        return view if view["status"] == "closed" else None

    view = await eventually(closed, timeout=20)
    assert [f["round"] for f in view["feedback"]] == [1, 2]
    late = await client.post(f"/v1/cases/{case_id}/feedback", json=answer, headers=bearer(token))
    assert late.status_code == 409
