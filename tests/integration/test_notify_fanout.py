"""Notify's projection and fan-out over the real broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.events import Assignee
from shared.events.routing import CaseDeclined, CaseSigned
from shared.events.sla import CaseEscalated, DeadlineArmed, DeadlineBreached, DeadlineWarning
from tests.helpers import bearer, eventually, read_topic
from tests.integration.test_notify_support import (
    T0,
    dept,
    new_case,
    producer,
    publish,
    routed,
    running,
    submitted,
)


def _types_for(records: list[Any], case_id: str) -> list[str]:
    return [orjson.loads(r.value)["type"] for r in records if r.key == case_id.encode()]


async def test_audience_topics_cover_owners_co_handlers_and_the_previous_assignee(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    case_id = new_case()
    app = create_app(make_settings(NotifySettings))
    async with running(app), producer(kafka_bootstrap) as p:
        await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
        first = routed(case_id, to=dept("urban_mgmt"), co=[dept("power")])
        await publish(p, f"{prefix}routing.events", first, case_id=case_id, at=T0 + timedelta(seconds=5))
        declined = CaseDeclined(
            case_id=case_id,
            assignee=dept("urban_mgmt"),
            reason_code="not_our_area",
            decline_count=1,
            declined_at=T0 + timedelta(seconds=9),
        )
        await publish(p, f"{prefix}routing.events", declined, case_id=case_id, at=T0 + timedelta(seconds=9))
        second = routed(
            case_id, to=dept("housing"), previous=[dept("urban_mgmt")], attempt=2, at=T0 + timedelta(seconds=10)
        )
        await publish(p, f"{prefix}routing.events", second, case_id=case_id, at=T0 + timedelta(seconds=10))

        street = await read_topic(
            kafka_bootstrap, f"{prefix}street.wanxing", until=lambda rs: len(_types_for(rs, case_id)) >= 4
        )
        types = _types_for(street, case_id)
        # Intake's and routing's topics reach notify in no fixed order; each topic's own order holds.
        assert sorted(types) == sorted(
            ["lastmeter.need.submitted", "lastmeter.case.routed", "lastmeter.case.declined", "lastmeter.case.routed"]
        )
        assert [t for t in types if t != "lastmeter.need.submitted"] == [
            "lastmeter.case.routed",
            "lastmeter.case.declined",
            "lastmeter.case.routed",
        ]
        old = await read_topic(
            kafka_bootstrap, f"{prefix}dept.urban_mgmt", until=lambda rs: len(_types_for(rs, case_id)) >= 3
        )
        # The first owner hears of its case, its decline and the re-routing that takes the case away.
        routing_types = [t for t in _types_for(old, case_id) if t != "lastmeter.need.submitted"]
        assert routing_types == ["lastmeter.case.routed", "lastmeter.case.declined", "lastmeter.case.routed"]
        co = await read_topic(
            kafka_bootstrap, f"{prefix}dept.power", until=lambda rs: len(_types_for(rs, case_id)) >= 1
        )
        assert _types_for(co, case_id)[0] == "lastmeter.case.routed"
        new = await read_topic(
            kafka_bootstrap, f"{prefix}dept.housing", until=lambda rs: len(_types_for(rs, case_id)) >= 1
        )
        # The new owner hears from its routing on, not of the decline before it.
        assert [t for t in _types_for(new, case_id) if t != "lastmeter.need.submitted"] == ["lastmeter.case.routed"]
        # Keyed by case id, so one case's events stay in one partition, in order.
        assert {r.partition for r in street if r.key == case_id.encode()} == {street[-1].partition}


async def test_projection_survives_out_of_order_delivery_and_parks_until_street_known(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    case_id = new_case()
    owner = dept("urban_mgmt")
    app = create_app(make_settings(NotifySettings))
    street_key = keys["street_offices"]["wanxing"]
    async with running(app) as (_, client), producer(kafka_bootstrap) as p:
        sla = f"{prefix}sla.events"
        due = T0 + timedelta(hours=2)
        # SLA events first, the breach before the warning, and all before notify knows the case.
        await publish(
            p,
            sla,
            DeadlineBreached(case_id=case_id, kind="response", assignee=owner, due_at=due, breached_at=due),
            case_id=case_id,
            at=due,
        )
        warn_at = T0 + timedelta(hours=1)
        await publish(
            p,
            sla,
            DeadlineWarning(case_id=case_id, kind="response", fraction=0.5, assignee=owner, due_at=due, at=warn_at),
            case_id=case_id,
            at=warn_at,
        )
        armed = DeadlineArmed(case_id=case_id, kind="response", assignee=owner, started_at=T0, due_at=due)
        await publish(p, sla, armed, case_id=case_id, at=T0)
        await publish(
            p,
            sla,
            CaseEscalated(
                case_id=case_id,
                kind="response",
                level="supervise",
                assignee=owner,
                target_kind="street_office",
                target_code="wanxing",
                at=due + timedelta(minutes=30),
            ),
            case_id=case_id,
            at=due + timedelta(minutes=30),
        )

        async def parked() -> bool:
            rows = await app.state.runtime.pool.fetchval("SELECT count(*) FROM parked WHERE case_id = $1", case_id)
            return rows == 4

        await eventually(parked)
        routing = f"{prefix}routing.events"
        signed_at = T0 + timedelta(hours=3)
        await publish(
            p, routing, CaseSigned(case_id=case_id, assignee=owner, signed_at=signed_at), case_id=case_id, at=signed_at
        )
        await publish(p, routing, routed(case_id, to=owner), case_id=case_id, at=T0 + timedelta(seconds=5))
        await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)

        async def case_view() -> dict[str, Any] | None:
            resp = await client.get(f"/v1/cases/{case_id}", headers=bearer(street_key))
            return resp.json() if resp.status_code == 200 and resp.json()["status"] == "signed" else None

        case = await eventually(case_view)
        assert case["assignee"] == {"kind": "department", "code": "urban_mgmt"}
        assert case["sla_state"] == "breached"  # the late warning did not move it back
        assert case["escalation"] == "supervise"
        assert case["category"] == "street_light_out"
        records = await read_topic(
            kafka_bootstrap, f"{prefix}street.wanxing", until=lambda rs: len(_types_for(rs, case_id)) >= 7
        )
        types = _types_for(records, case_id)
        # Parked events were released in event time order once the street was known (from whichever of
        # `need submitted` or `case routed` notify read first: both carry the street), although they were
        # published breach first.
        parked_order = [t for t in types if t.startswith("lastmeter.sla.")]
        assert parked_order == [
            "lastmeter.sla.deadline_armed",
            "lastmeter.sla.warning",
            "lastmeter.sla.breached",
            "lastmeter.sla.escalated",
        ]
        assert sorted(types) == sorted(
            [
                "lastmeter.need.submitted",
                "lastmeter.sla.deadline_armed",
                "lastmeter.case.routed",
                "lastmeter.sla.warning",
                "lastmeter.sla.breached",
                "lastmeter.sla.escalated",
                "lastmeter.case.signed",
            ]
        )
        left = await app.state.runtime.pool.fetchval("SELECT count(*) FROM parked WHERE case_id = $1", case_id)
        assert left == 0


async def test_team_and_unscoped_parties(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    case_id = new_case()
    team = Assignee(kind="team", code="corridor_cleanup")
    app = create_app(make_settings(NotifySettings))
    async with running(app) as (_, client), producer(kafka_bootstrap) as p:
        await publish(p, f"{prefix}intake.events", submitted(case_id, street="nanyingmen"), case_id=case_id, at=T0)
        await publish(
            p, f"{prefix}routing.events", routed(case_id, to=team, street="nanyingmen"), case_id=case_id, at=T0
        )
        records = await read_topic(
            kafka_bootstrap, f"{prefix}team.corridor_cleanup", until=lambda rs: len(_types_for(rs, case_id)) >= 1
        )
        assert "lastmeter.case.routed" in _types_for(records, case_id)

        async def listed() -> list[dict[str, Any]] | None:
            resp = await client.get("/v1/cases", headers=bearer(keys["teams"]["corridor_cleanup"]))
            return [c for c in resp.json()["items"] if c["case_id"] == case_id] or None

        assert (await eventually(listed))[0]["assignee"]["code"] == "corridor_cleanup"
        other = await client.get("/v1/cases", headers=bearer(keys["teams"]["veterans"]))
        assert case_id not in {c["case_id"] for c in other.json()["items"]}
        wanxing = await client.get(f"/v1/cases/{case_id}", headers=bearer(keys["street_offices"]["wanxing"]))
        assert wanxing.status_code == 403


async def test_dashboard_read_api(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    app = create_app(make_settings(NotifySettings))
    street = bearer(keys["street_offices"]["wanxing"])
    async with running(app) as (_, client), producer(kafka_bootstrap) as p:
        ids = [new_case() for _ in range(3)]
        for i, case_id in enumerate(ids):
            at = app.state.runtime.clock.now() - timedelta(days=i)
            await publish(p, f"{prefix}intake.events", submitted(case_id, submitted_at=at), case_id=case_id, at=at)
        corridor = new_case()
        at = app.state.runtime.clock.now()
        need = submitted(corridor, submitted_at=at, category="corridor_clutter", street="nanyingmen")
        await publish(p, f"{prefix}intake.events", need, case_id=corridor, at=at)

        async def page() -> dict[str, Any] | None:
            body = (await client.get("/v1/cases", headers=street, params={"limit": 2})).json()
            return body if body["total"] == 3 else None

        first = await eventually(page)
        assert len(first["items"]) == 2
        assert first["limit"] == 2
        second = (await client.get("/v1/cases", headers=street, params={"limit": 2, "offset": 2})).json()
        assert {c["case_id"] for c in first["items"] + second["items"]} == set(ids)
        filtered = await client.get("/v1/cases", headers=street, params={"category": "water_outage"})
        assert filtered.json()["total"] == 0
        bad = await client.get("/v1/cases", headers=street, params={"category": "nope"})
        assert bad.status_code == 422
        assert bad.json()["fields"][0]["field"] == "category"
        bad_sla = await client.get("/v1/cases", headers=street, params={"sla_state": "late"})
        assert bad_sla.status_code == 422
        assert bad_sla.json()["fields"][0]["field"] == "sla_state"
        overview = (await client.get("/v1/stats/overview", headers=street)).json()
        assert overview["open"] == 3
        assert overview["by_sla_state"] == {"none": 3}
        demand = await client.get("/v1/stats/demand", headers=street, params={"days": 7})
        assert demand.status_code == 200, demand.text
        series = demand.json()["series"]
        assert series == [{"category": "street_light_out", "counts": [0, 0, 0, 0, 1, 1, 1]}]
        nanyingmen = bearer(keys["street_offices"]["nanyingmen"])
        supply = (await client.get("/v1/stats/supply", headers=nanyingmen)).json()
        cleanup = next(s for s in supply["skills"] if s["skill"] == "cleanup")
        assert cleanup["capacity"] == 15 + 8
        assert cleanup["demand"] == 1
        config = (await client.get("/v1/dashboard/config", headers=street)).json()
        assert config["street"]["code"] == "wanxing"
        assert "lastmeter.sla.warning" in config["event_types"]
        html = await client.get("/dashboard")
        assert html.status_code == 200
        assert "EventSource" not in html.text
        assert "app.js" in html.text
        assert (await client.get("/dashboard/app.js")).status_code == 200
        assert (await client.get("/dashboard/..%2Fstore.py")).status_code == 404
