"""Routing over the real broker and PostgreSQL: decline → re-route → arbitration, reopen, teams, triage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.events import CloudEvent, EventData, make_event
from shared.events.intake import FeedbackReceived, NeedSubmitted
from tests.helpers import bearer, eventually, read_topic, serving

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# What intake keeps to itself: none of these may appear in a routing event.
PERSONAL = ("name", "phone", "email", "reporter", "contact")


@pytest.fixture
async def routing(make_settings: Callable[..., Any], keys: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(make_settings(RoutingSettings))) as client:
        yield client


async def publish(bootstrap: str, topic: str, *payloads: EventData) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for p in payloads:
            event = make_event(p, source="/test", subject=p.case_id, time=NOW)  # type: ignore[attr-defined]
            await producer.send_and_wait(topic, event.to_bytes(), key=event.subject.encode())
    finally:
        await producer.stop()


def need(category: str | None, community: str = "jinrongjie", **kw: Any) -> NeedSubmitted:
    street = "nanyingmen" if community == "chaoyangli" else "wanxing"
    return NeedSubmitted(
        case_id=f"c-{uuid.uuid4().hex[:12]}",
        category=category,
        description="3号楼前路灯不亮",
        community=community,
        street=street,
        address="金融街3号楼",
        submitted_at=NOW,
        **kw,
    )


async def routed(client: httpx.AsyncClient, key: str, case_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/cases/{case_id}", headers=bearer(key))
        return resp.json() if resp.status_code == 200 else None

    return await eventually(probe)


async def events_of(bootstrap: str, topic: str, case_id: str, *, until_type: str) -> list[CloudEvent]:
    records = await read_topic(
        bootstrap,
        topic,
        until=lambda rs: any(r.key == case_id.encode() and until_type.encode() in r.value for r in rs),
    )
    return [CloudEvent.model_validate(orjson.loads(r.value)) for r in records if r.key == case_id.encode()]


def no_personal_data(event: CloudEvent) -> None:
    keys = " ".join(_all_keys(event.data)).lower()
    assert not any(p in keys for p in PERSONAL), keys


def _all_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in (k, *_all_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _all_keys(v)]
    return []


async def test_decline_reroute_arbitration_path(
    routing: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    depts, streets = keys["departments"], keys["street_offices"]
    n = need("street_light_out")
    await publish(kafka_bootstrap, f"{prefix}intake.events", n)
    case = await routed(routing, depts["urban_mgmt"], n.case_id)
    assert case["status"] == "routed"
    assert case["assignee"] == {"kind": "department", "code": "urban_mgmt"}
    assert case["co_handlers"] == [{"kind": "department", "code": "power"}]
    assert "department urban_mgmt is responsible for street_light_out in wanxing" in case["decisions"][0]["reasons"][0]
    # The co-handler reads the case too; another department does not.
    assert (await routing.get(f"/v1/cases/{n.case_id}", headers=bearer(depts["power"]))).status_code == 200
    assert (await routing.get(f"/v1/cases/{n.case_id}", headers=bearer(depts["gas"]))).status_code == 403

    url = f"/v1/cases/{n.case_id}"
    assert (await routing.post(f"{url}/sign", headers=bearer(depts["water"]))).status_code == 403
    wrong = await routing.post(f"{url}/resolve", json={"note": "done"}, headers=bearer(depts["urban_mgmt"]))
    assert wrong.status_code == 409
    assert wrong.json()["state"] == "routed"
    bad = await routing.post(f"{url}/decline", json={"reason_code": "other"}, headers=bearer(depts["urban_mgmt"]))
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "reason_text"
    bad = await routing.post(f"{url}/decline", json={"reason_code": "lazy"}, headers=bearer(depts["urban_mgmt"]))
    assert bad.status_code == 422
    assert "not_our_area" in bad.json()["message"]

    first = await routing.post(
        f"{url}/decline", json={"reason_code": "not_our_area"}, headers=bearer(depts["urban_mgmt"])
    )
    assert first.status_code == 200, first.text
    assert first.json()["assignee"] == {"kind": "department", "code": "power"}
    assert first.json()["attempt"] == 2
    assert (await routing.post(f"{url}/sign", headers=bearer(depts["urban_mgmt"]))).status_code == 403

    second = await routing.post(
        f"{url}/decline",
        json={"reason_code": "overlapping_duties", "reason_text": "灯杆属城管"},
        headers=bearer(depts["power"]),
    )
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "arbitration"
    assert second.json()["decline_count"] == 2
    queue = (await routing.get("/v1/arbitration", headers=bearer(streets["wanxing"]))).json()["items"]
    assert n.case_id in [c["case_id"] for c in queue]
    other = (await routing.get("/v1/arbitration", headers=bearer(streets["nanyingmen"]))).json()["items"]
    assert n.case_id not in [c["case_id"] for c in other]

    body = {"assignee": {"kind": "department", "code": "urban_mgmt"}, "note": "灯杆由城管维护"}
    assert (await routing.post(f"{url}/arbitrate", json=body, headers=bearer(streets["nanyingmen"]))).status_code == 403
    outside = {"assignee": {"kind": "team", "code": "veterans"}}  # serves Chaoyangli, not Wanxing
    resp = await routing.post(f"{url}/arbitrate", json=outside, headers=bearer(streets["wanxing"]))
    assert resp.status_code == 422
    assert resp.json()["fields"][0]["field"] == "assignee.code"
    unknown = {"assignee": {"kind": "department", "code": "library"}}
    resp = await routing.post(f"{url}/arbitrate", json=unknown, headers=bearer(streets["wanxing"]))
    assert resp.status_code == 422
    assert "urban_mgmt" in resp.json()["message"]  # lists the valid ones
    final = await routing.post(f"{url}/arbitrate", json=body, headers=bearer(streets["wanxing"]))
    assert final.status_code == 200, final.text
    assert final.json()["final"] is True
    assert final.json()["decided_by"] == "arbitration"
    again = await routing.post(
        f"{url}/decline", json={"reason_code": "not_our_area"}, headers=bearer(depts["urban_mgmt"])
    )
    assert again.status_code == 409
    assert again.json()["error"] == "final"

    # The arbitrated assignee now works the case through.
    h = bearer(depts["urban_mgmt"])
    assert (await routing.post(f"{url}/sign", headers=h)).json()["status"] == "signed"
    assert (await routing.post(f"{url}/progress", json={"note": "已派人查看"}, headers=h)).status_code == 200
    assert (await routing.post(f"{url}/progress", json={"note": "更换灯泡"}, headers=h)).status_code == 200
    assert (await routing.post(f"{url}/await-resident", json={"note": "需入户"}, headers=h)).json()["status"] == (
        "awaiting_resident"
    )
    assert (await routing.post(f"{url}/resume", headers=h)).json()["status"] == "signed"
    no_note = await routing.post(f"{url}/resolve", json={"note": "  "}, headers=h)
    assert no_note.status_code == 422
    assert no_note.json()["fields"][0]["field"] == "note"
    done = await routing.post(f"{url}/resolve", json={"note": "路灯已修复"}, headers=h)
    assert done.json()["status"] == "resolved"
    assert [s["action"] for s in done.json()["steps"]] == [
        "decline", "decline", "arbitrate", "sign", "progress", "progress", "await_resident", "resume", "resolve",
    ]  # fmt: skip

    events = await events_of(kafka_bootstrap, f"{prefix}routing.events", n.case_id, until_type="case.resolved")
    assert [e.type.removeprefix("lastmeter.case.") for e in events] == [
        "routed", "declined", "routed", "declined", "arbitration_requested", "routed",
        "signed", "progress", "progress", "awaiting_resident", "resumed", "resolved",
    ]  # fmt: skip
    for e in events:
        no_personal_data(e)
    first_routed, rerouted, arbitrated = (e.data for e in events if e.type == "lastmeter.case.routed")
    assert first_routed["description"] == n.description
    assert first_routed["address"] == "金融街3号楼"
    assert first_routed["sla_class"] == "utilities"
    assert first_routed["reasons"]
    assert rerouted["assignee"]["code"] == "power"
    assert rerouted["previous_assignees"] == [{"kind": "department", "code": "urban_mgmt"}]
    assert any("department urban_mgmt declined before" in r for r in rerouted["reasons"])
    assert arbitrated["decided_by"] == "arbitration"
    assert arbitrated["final"] is True
    assert arbitrated["previous_assignees"] == [
        {"kind": "department", "code": "urban_mgmt"},
        {"kind": "department", "code": "power"},
    ]
    declined = [e.data for e in events if e.type == "lastmeter.case.declined"]
    assert [(d["reason_code"], d["decline_count"]) for d in declined] == [
        ("not_our_area", 1),
        ("overlapping_duties", 2),
    ]
    request = next(e.data for e in events if e.type == "lastmeter.case.arbitration_requested")
    assert request["reason"] == "declined 2 times"
    assert request["street"] == "wanxing"
    progress = [e.data["first_feedback"] for e in events if e.type == "lastmeter.case.progress"]
    assert progress == [True, False]


async def test_reopened_case_returns_to_its_last_assignee(
    routing: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    n = need("corridor_clutter", "chaoyangli")
    await publish(kafka_bootstrap, f"{prefix}intake.events", n)
    team_key = keys["teams"]["veterans"]
    case = await routed(routing, team_key, n.case_id)
    assert case["assignee"] == {"kind": "team", "code": "veterans"}
    url = f"/v1/cases/{n.case_id}"
    resp = await routing.post(f"{url}/assign-member", json={"member": "nobody"}, headers=bearer(team_key))
    assert resp.status_code == 422
    assert "vet-zhao" in resp.json()["message"]
    assert (await routing.post(f"{url}/sign", headers=bearer(team_key))).status_code == 200
    resp = await routing.post(f"{url}/assign-member", json={"member": "vet-zhao"}, headers=bearer(team_key))
    assert resp.json()["member"] == "vet-zhao"
    await routing.post(f"{url}/resolve", json={"note": "楼道已清理"}, headers=bearer(team_key))

    unhappy = FeedbackReceived(
        case_id=n.case_id, round=1, solved=False, satisfaction="dissatisfied", reopen=True, received_at=NOW
    )
    await publish(kafka_bootstrap, f"{prefix}intake.events", unhappy)

    async def reopened() -> dict[str, Any] | None:
        body = (await routing.get(url, headers=bearer(team_key))).json()
        return body if body["status"] == "reopened" else None

    case = await eventually(reopened)
    assert case["round"] == 2
    assert case["assignee"] == {"kind": "team", "code": "veterans"}
    redecline = {"reason_code": "other", "reason_text": "x"}
    assert (await routing.post(f"{url}/decline", json=redecline, headers=bearer(team_key))).status_code == 409
    assert (await routing.post(f"{url}/sign", headers=bearer(team_key))).status_code == 200
    await routing.post(f"{url}/resolve", json={"note": "再次清理, 加装提示牌"}, headers=bearer(team_key))
    happy = FeedbackReceived(
        case_id=n.case_id, round=2, solved=True, satisfaction="satisfied", reopen=False, received_at=NOW
    )
    stale = FeedbackReceived(
        case_id=n.case_id, round=1, solved=False, satisfaction="dissatisfied", reopen=True, received_at=NOW
    )
    await publish(kafka_bootstrap, f"{prefix}intake.events", happy, stale)
    events = await events_of(kafka_bootstrap, f"{prefix}routing.events", n.case_id, until_type="case.closed")
    types = [e.type.removeprefix("lastmeter.case.") for e in events]
    assert types == ["routed", "signed", "member_assigned", "resolved", "reopened", "signed", "resolved", "closed"]
    reopen = next(e.data for e in events if e.type == "lastmeter.case.reopened")
    assert reopen["assignee"] == {"kind": "team", "code": "veterans"}
    assert reopen["escalated"] is True
    assert reopen["round"] == 2
    assert "dissatisfied" in reopen["reason"]
    closed = next(e.data for e in events if e.type == "lastmeter.case.closed")
    assert closed["solved"] is True
    assert (await routing.get(url, headers=bearer(team_key))).json()["status"] == "closed"


async def test_triage_priority_and_work_lists(
    routing: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    office = keys["street_offices"]["wanxing"]
    unsure, water = need(None), need("water_outage")
    await publish(kafka_bootstrap, f"{prefix}intake.events", unsure, water)
    case = await routed(routing, office, unsure.case_id)
    assert case["assignee"] == {"kind": "street_office", "code": "wanxing"}
    await routed(routing, office, water.case_id)
    queue = (await routing.get("/v1/triage", headers=bearer(office))).json()["items"]
    assert [c["case_id"] for c in queue] == [unsure.case_id]
    url = f"/v1/cases/{unsure.case_id}"
    bad = await routing.post(f"{url}/triage", json={"category": "unicorns"}, headers=bearer(office))
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "category"
    triaged = await routing.post(f"{url}/triage", json={"category": "pothole"}, headers=bearer(office))
    assert triaged.status_code == 200, triaged.text
    assert triaged.json()["assignee"] == {"kind": "department", "code": "urban_mgmt"}
    assert triaged.json()["decided_by"] == "triage"
    assert (
        await routing.post(f"{url}/triage", json={"category": "pothole"}, headers=bearer(office))
    ).status_code == 409

    wurl = f"/v1/cases/{water.case_id}"
    water_key = keys["departments"]["water"]
    emergency = {"priority": "emergency"}
    assert (await routing.post(f"{wurl}/priority", json=emergency, headers=bearer(water_key))).status_code == 403
    up = await routing.post(f"{wurl}/priority", json=emergency, headers=bearer(office))
    assert up.json()["priority"] == "emergency"
    urgent = {"priority": "urgent"}
    assert (await routing.post(f"{wurl}/priority", json=urgent, headers=bearer(office))).status_code == 422

    mine = (await routing.get("/v1/cases?status=routed", headers=bearer(water_key))).json()["items"]
    assert [c["case_id"] for c in mine] == [water.case_id]
    assert (await routing.get("/v1/cases?assignee=department:gas", headers=bearer(water_key))).status_code == 403
    bad = await routing.get("/v1/cases?assignee=department:library", headers=bearer(office))
    assert bad.status_code == 422
    assert "water" in bad.json()["message"]
    assert (await routing.get("/v1/cases?status=lost", headers=bearer(office))).status_code == 422
    listed = (await routing.get("/v1/cases?assignee=department:water", headers=bearer(office))).json()["items"]
    assert [c["case_id"] for c in listed] == [water.case_id]
    assert (await routing.get("/v1/cases", headers=bearer(keys["grid_workers"]["wanxing"]))).status_code == 403
    assert (await routing.get("/v1/cases/nope", headers=bearer(office))).status_code == 404

    events = await events_of(kafka_bootstrap, f"{prefix}routing.events", water.case_id, until_type="priority_changed")
    changed = events[-1].data
    assert (changed["priority"], changed["sla_class"]) == ("emergency", "emergency")


async def test_need_in_an_unknown_street_is_dead_lettered(
    routing: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    lost = need("pothole").model_copy(update={"street": "atlantis"})
    await publish(kafka_bootstrap, f"{prefix}intake.events", lost)
    records = await read_topic(
        kafka_bootstrap, f"{prefix}deadletter", until=lambda rs: any(r.key == lost.case_id.encode() for r in rs)
    )
    headers = dict(next(r for r in records if r.key == lost.case_id.encode()).headers)
    assert headers["dlq_reason"] == b"unknown-street"
