"""Routing's bodies go through the one cleaning rule: control characters 422 naming the field, bidi stripped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.routing.main import create_app
from services.routing.settings import RoutingSettings
from tests.helpers import bearer, serving
from tests.integration.test_routing_workflow import events_of, need, publish, routed


@pytest.fixture
async def routing(make_settings: Callable[..., Any], keys: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(make_settings(RoutingSettings))) as client:
        yield client


async def test_notes_are_cleaned_and_a_public_note_travels_on_the_event(
    routing: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    key = keys["departments"]["urban_mgmt"]
    n = need("street_light_out")
    await publish(kafka_bootstrap, f"{prefix}intake.events", n)
    await routed(routing, key, n.case_id)
    url = f"/v1/cases/{n.case_id}"

    declined = await routing.post(
        f"{url}/decline", json={"reason_code": "other", "reason_text": "不归\x00我们"}, headers=bearer(key)
    )
    assert declined.status_code == 422, declined.text
    assert declined.json()["fields"][0]["field"] == "reason_text"
    assert (await routing.post(f"{url}/sign", headers=bearer(key))).status_code == 200

    # A NUL used to reach PostgreSQL and answer 500.
    for body, field in (
        ({"note": "已派人\x00维修"}, "note"),
        ({"note": "已派人", "public_note": "维修\x1b[31m中"}, "public_note"),
    ):
        resp = await routing.post(f"{url}/progress", json=body, headers=bearer(key))
        assert resp.status_code == 422, resp.text
        assert [f["field"] for f in resp.json()["fields"]] == [field]
        assert "U+00" in resp.json()["fields"][0]["message"]

    # A right-to-left override would make a public note read differently from what it says.
    ok = await routing.post(
        f"{url}/progress",
        json={"note": "内部: 住户\u202e独居", "public_note": "维修工\u202e已出发\u2066"},
        headers=bearer(key),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["steps"][-1]["note"] == "内部: 住户独居"
    events = await events_of(kafka_bootstrap, f"{prefix}routing.events", n.case_id, until_type="case.progress")
    [progress] = [e for e in events if e.type == "lastmeter.case.progress"]
    assert progress.data["public_note"] == "维修工已出发"
    assert progress.data["note"] == "内部: 住户独居"

    resolved = await routing.post(
        f"{url}/resolve", json={"note": "灯已修好", "public_note": "路灯已修复"}, headers=bearer(key)
    )
    assert resolved.status_code == 200, resolved.text
    events = await events_of(kafka_bootstrap, f"{prefix}routing.events", n.case_id, until_type="case.resolved")
    [done] = [e for e in events if e.type == "lastmeter.case.resolved"]
    assert done.data["public_note"] == "路灯已修复"
