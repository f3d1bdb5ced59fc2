"""The four services as real processes, started the way `make run` starts them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.devstack import free_port
from shared.procs import ServiceGroup
from tests.helpers import read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(env: dict[str, str], keys: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, str]]:
    group = ServiceGroup(env=env, log_dir=tmp_path / "logs")
    urls = {}
    try:
        for name in ("intake", "routing", "sla", "notify"):
            urls[name] = group.start(name, port=free_port()).url
        group.wait_ready(timeout=60)
        yield urls
    finally:
        group.stop_all()


async def _read_sse(
    client: httpx.AsyncClient, url: str, key: str, want: set[str], case_id: str, out: list[dict[str, Any]]
) -> None:
    async with client.stream("GET", url, headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status_code == 200
        data = None
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                if data["subject"] == case_id:
                    out.append(data)
                    if want <= {e["type"] for e in out}:
                        return
                data = None


async def test_need_is_routed_armed_and_streamed(
    stack: dict[str, str], keys: dict[str, Any], env: dict[str, str]
) -> None:
    street_key = keys["street_offices"]["wanxing"]
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{stack['intake']}/v1/needs",
            json={
                "category": "street_light_out",
                "description": "金融街3号楼前路灯不亮了",
                "community": "jinrongjie",
                "location": {"lat": 39.1, "lon": 117.17},
            },
        )
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        case_id = accepted["case_id"]
        reader = asyncio.create_task(
            _read_sse(
                client,
                f"{stack['notify']}/v1/stream?last_event_id=0",
                street_key,
                {"lastmeter.need.submitted", "lastmeter.case.routed", "lastmeter.sla.deadline_armed"},
                case_id,
                events,
            )
        )
        case: dict[str, Any] = {}
        for _ in range(100):
            case = (
                await client.get(
                    f"{stack['intake']}/v1/cases/{case_id}",
                    headers={"Authorization": f"Bearer {accepted['access_token']}"},
                )
            ).json()
            if case["status"] == "routed":
                break
            await asyncio.sleep(0.1)
        assert case["status"] == "routed"
        assert case["assigned_to"]["kind"] == "department"
        deadlines: list[dict[str, Any]] = []
        for _ in range(100):
            deadlines = (
                await client.get(
                    f"{stack['sla']}/v1/cases/{case_id}/deadlines", headers={"Authorization": f"Bearer {keys['admin']}"}
                )
            ).json()
            if deadlines:
                break
            await asyncio.sleep(0.1)
        # sla arms the sign-for, first-feedback and resolution clocks together when a case is routed.
        assert sorted(d["kind"] for d in deadlines) == ["first_feedback", "resolution", "response"]
        assert {d["assignee_code"] for d in deadlines} == {case["assigned_to"]["code"]}
        await asyncio.wait_for(reader, 20)
    # The assigned department's own topic carries the case's events, keyed by case id.
    dept_topic = f"{env['LASTMETER_TOPIC_PREFIX']}dept.{case['assigned_to']['code']}"
    records = await read_topic(
        env["KAFKA_BOOTSTRAP_SERVERS"],
        dept_topic,
        until=lambda recs: any(json.loads(r.value)["type"] == "lastmeter.case.routed" for r in recs),
    )
    assert {r.key for r in records} == {case_id.encode()}
    # Events of different topics reach notify in no fixed order; each arrives exactly once.
    types = [e["type"] for e in events]
    assert sorted(set(types)) == ["lastmeter.case.routed", "lastmeter.need.submitted", "lastmeter.sla.deadline_armed"]
    assert len({e["id"] for e in events}) == len(events)  # one `deadline armed` per clock, none twice
