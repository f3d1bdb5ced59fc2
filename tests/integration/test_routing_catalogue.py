"""The catalogue admin API: validation with every error listed, versions, and live application without restart."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import yaml
from aiokafka import AIOKafkaProducer

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from shared.catalogue import Catalogue
from shared.events import CloudEvent, make_event
from shared.events.intake import NeedSubmitted
from tests.helpers import bearer, eventually, read_topic, serving

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def submit(bootstrap: str, topic: str, category: str) -> str:
    need = NeedSubmitted(
        case_id=f"c-{uuid.uuid4().hex[:12]}",
        category=category,
        description="路面有坑",
        community="jinrongjie",
        street="wanxing",
        submitted_at=NOW,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        event = make_event(need, source="/test", subject=need.case_id, time=NOW)
        await producer.send_and_wait(topic, event.to_bytes(), key=need.case_id.encode())
    finally:
        await producer.stop()
    return need.case_id


async def test_catalogue_change_takes_effect_live_in_every_process(
    make_settings: Callable[..., Any],
    keys: dict[str, Any],
    catalogue: Catalogue,
    kafka_bootstrap: str,
    prefix: str,
) -> None:
    admin = bearer(keys["admin"])
    settings = make_settings(RoutingSettings)
    async with serving(create_app(settings)) as one, serving(create_app(settings)) as two:
        public = (await one.get("/v1/catalogue")).json()  # no key needed: no personal data in it
        assert public["version"] == 1
        assert "pairings" not in public["catalogue"]
        assert "members" not in public["catalogue"]["teams"][0]
        assert (await one.get("/v1/catalogue?full=true")).status_code == 401
        assert (
            await one.get("/v1/catalogue?full=true", headers=bearer(keys["departments"]["water"]))
        ).status_code == 403
        full = (await one.get("/v1/catalogue?full=true", headers=admin)).json()["catalogue"]
        assert full["pairings"]

        # Potholes in Wanxing move from urban management to housing.
        edited = copy.deepcopy(full)
        pothole = next(c for c in edited["categories"] if c["code"] == "pothole")
        pothole["owners"] = [{"street": "wanxing", "departments": ["housing"]}]
        text = yaml.safe_dump(edited, allow_unicode=True, sort_keys=False)
        forbidden = await one.put("/v1/catalogue", content=text, headers={**bearer(keys["departments"]["housing"])})
        assert forbidden.status_code == 403
        resp = await one.put("/v1/catalogue", content=text, headers={**admin, "Content-Type": "application/yaml"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["version"] == 2
        assert resp.json()["summary"] == {"categories": {"changed": ["pothole"]}}

        async def two_has_v2() -> bool:
            return (await two.get("/v1/catalogue")).json()["version"] == 2

        await eventually(two_has_v2)  # the other process applied it through catalogue.events, no restart
        case_ids = [await submit(kafka_bootstrap, f"{prefix}intake.events", "pothole") for _ in range(4)]
        records = await read_topic(
            kafka_bootstrap,
            f"{prefix}routing.events",
            until=lambda rs: {r.key.decode() for r in rs} >= set(case_ids),
        )
        assignees = {orjson.loads(r.value)["data"]["assignee"]["code"] for r in records}
        assert assignees == {"housing"}

        # Same content again: nothing changes, no new version.
        as_json = {**admin, "Content-Type": "application/json"}
        same = await one.put("/v1/catalogue", content=orjson.dumps({**edited, "version": 2}), headers=as_json)
        assert same.json() == {"changed": False, "version": 2, "fingerprint": resp.json()["fingerprint"], "summary": {}}
        # An edit of version 1 after version 2 exists is refused instead of overwriting it.
        stale = await one.put("/v1/catalogue", content=orjson.dumps(full), headers=as_json)
        assert stale.status_code == 409
        assert stale.json()["current_version"] == 2

        versions = (await two.get("/v1/catalogue/versions", headers=admin)).json()
        assert [(v["version"], v["changed_by"]) for v in versions] == [(2, "admin"), (1, None)]

    changes = await read_topic(kafka_bootstrap, f"{prefix}catalogue.events", until=lambda rs: len(rs) >= 1)
    assert len(changes) == 1
    event = CloudEvent.model_validate(orjson.loads(changes[0].value))
    assert event.type == "lastmeter.catalogue.changed"
    assert event.data["version"] == 2
    assert event.data["changed_by"] == "admin"


async def test_invalid_catalogue_lists_every_error_and_applies_nothing(
    make_settings: Callable[..., Any], keys: dict[str, Any], catalogue: Catalogue, database_url: str, prefix: str
) -> None:
    admin = {**bearer(keys["admin"]), "Content-Type": "application/json"}
    broken = copy.deepcopy(catalogue.to_dict())
    broken["departments"].append(copy.deepcopy(broken["departments"][0]))  # duplicate code urban_mgmt
    broken["teams"][0]["communities"] = ["atlantis"]  # unknown community
    pothole = next(c for c in broken["categories"] if c["code"] == "pothole")
    pothole["default_departments"] = []  # no owner anywhere
    broken["categories"][0]["sla_class"] = "someday"  # unknown SLA class
    broken["sla_classes"][0]["response"] = "soon"  # not a duration
    async with serving(create_app(make_settings(RoutingSettings))) as client:
        resp = await client.put("/v1/catalogue", content=orjson.dumps(broken), headers=admin)
        assert resp.status_code == 422
        body = resp.json()
        assert body["error"] == "invalid_catalogue"
        problems = {f["field"]: f["message"] for f in body["fields"]}
        assert "departments[13].code" in problems
        assert "duplicate code 'urban_mgmt'" in problems["departments[13].code"]
        assert "unknown community 'atlantis'" in problems["teams[0].communities[0]"]
        assert "unknown SLA class 'someday'" in problems["categories[0].sla_class"]
        assert "invalid duration" in problems["sla_classes[0].response"]
        pothole_at = next(i for i, c in enumerate(broken["categories"]) if c["code"] == "pothole")
        assert "no owner anywhere" in problems[f"categories[{pothole_at}]"]
        yaml_error = await client.put(
            "/v1/catalogue", content=b"version: 1\nname: [broken\n", headers={**admin, "Content-Type": "text/yaml"}
        )
        assert yaml_error.status_code == 422
        assert "invalid YAML" in yaml_error.json()["fields"][0]["message"]
        assert (await client.get("/v1/catalogue")).json()["version"] == 1
        versions = (await client.get("/v1/catalogue/versions", headers=admin)).json()
        assert [v["version"] for v in versions] == [1]
    # Nothing was stored or queued for announcement either.
    conn = await asyncpg.connect(database_url)
    try:
        for table in ("catalogue_versions", "catalogue_changes"):
            assert await conn.fetchval(f"SELECT count(*) FROM {prefix}routing.{table}") == 0
        queued = await conn.fetchval(f"SELECT count(*) FROM {prefix}routing.outbox WHERE topic LIKE '%catalogue%'")
        assert queued == 0
    finally:
        await conn.close()
