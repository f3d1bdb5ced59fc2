"""Native intake API on the real broker and PostgreSQL: classification, duplicates, idempotency, bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.provision import SERVICES, initialise
from shared.topics import INTAKE_EVENTS
from tests.conftest import RELAXED_RATE_LIMITS, TEST_TOKEN_SECRET
from tests.helpers import bearer, read_topic, serving

LIGHT = {
    "category": "street_light_out",
    "description": "金融街3号楼前路灯不亮了",
    "community": "jinrongjie",
    "location": {"lat": 39.1175, "lon": 117.1630},
}


@dataclass
class Stack:
    client: httpx.AsyncClient
    keys: dict[str, Any]
    prefix: str


@asynccontextmanager
async def running_intake(
    kafka_bootstrap: str, database_url: str, catalogue: Catalogue, clock: Clock | None = None
) -> AsyncIterator[Stack]:
    """Topics, schemas, keys and one intake app under a fresh prefix; schemas dropped afterwards.

    The intake test modules share one per module: a service start costs ~5 s (the consumer group
    join on the dev broker), so each test uses its own category, place or text instead.
    """
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    keys = await initialise(
        dsn=database_url,
        bootstrap=kafka_bootstrap,
        catalogue=catalogue,
        keys_file=None,
        topic_prefix=prefix,
        schema_prefix=prefix,
    )
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        schema_prefix=prefix,
        env="test",
        token_secret=TEST_TOKEN_SECRET,
        **RELAXED_RATE_LIMITS,
    )
    try:
        async with serving(create_app(settings, clock=clock)) as client:
            yield Stack(client, keys, prefix)
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            for name in (*SERVICES, "auth"):
                await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}{name} CASCADE")
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[Stack]:
    async with running_intake(kafka_bootstrap, database_url, catalogue) as running:
        yield running


@pytest.fixture
def intake(stack: Stack) -> httpx.AsyncClient:
    return stack.client


@pytest.fixture
def keys(stack: Stack) -> dict[str, Any]:
    return stack.keys


@pytest.fixture
def prefix(stack: Stack) -> str:
    return stack.prefix


def _events(records: list[Any], type_: str) -> list[dict[str, Any]]:
    return [e["data"] for e in (orjson.loads(r.value) for r in records) if e["type"] == type_]


async def test_need_classified_from_chinese_and_english_text(
    intake: httpx.AsyncClient, kafka_bootstrap: str, prefix: str
) -> None:
    zh = await intake.post(
        "/v1/needs", json={"description": "楼道里堆满了杂物和花盆, 走不过去", "community": "chaoyangli"}
    )
    en = await intake.post(
        "/v1/needs",
        json={"description": "The street light outside building 3 is out", "community": "jinrongjie", "language": "en"},
    )
    unsure = await intake.post("/v1/needs", json={"description": "请联系我一下", "community": "yibinxili"})
    assert zh.status_code == 202, zh.text
    assert zh.json()["category"] == "corridor_clutter"
    assert zh.json()["classification"]["confidence"] >= 0.5
    assert en.json()["category"] == "street_light_out"
    assert unsure.status_code == 202
    assert unsure.json()["category"] is None
    ids = {zh.json()["case_id"], en.json()["case_id"], unsure.json()["case_id"]}
    records = await read_topic(
        kafka_bootstrap,
        f"{prefix}{INTAKE_EVENTS}",
        until=lambda recs: ids <= {e["case_id"] for e in _events(recs, "lastmeter.need.submitted")},
        timeout=20,
    )
    submitted = {e["case_id"]: e for e in _events(records, "lastmeter.need.submitted") if e["case_id"] in ids}
    triage = submitted[unsure.json()["case_id"]]
    # Below the threshold: no category, so routing sends it to the street office's triage queue.
    assert triage["category"] is None
    assert triage["classification"]["confidence"] < 0.5
    assert submitted[zh.json()["case_id"]]["classification"]["candidates"][0]["code"] == "corridor_clutter"
    # Contact details never travel on shared topics.
    private = {"phone", "email", "name", "contact", "reporter"}
    assert all(not private & set(orjson.loads(r.value)["data"]) for r in records)


async def test_duplicate_is_linked_and_grid_worker_can_force_a_new_case(
    intake: httpx.AsyncClient, keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    first = await intake.post("/v1/needs", json={**LIGHT, "reporter": {"name": "张大爷", "phone": "13800138000"}})
    assert first.status_code == 202, first.text
    original = first.json()["case_id"]
    # 20 m away, same category, minutes later: the same broken lamp.
    near = {**LIGHT, "description": "路灯坏了", "location": {"lat": 39.11768, "lon": 117.1630}}
    second = await intake.post("/v1/needs", json=near)
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["linked"] is True
    assert body["case_id"] == body["duplicate_of"] == original
    assert body["reporter_count"] == 2
    # The second reporter follows the original case with their own token.
    view = await intake.get(f"/v1/cases/{original}", headers=bearer(body["access_token"]))
    assert view.status_code == 200
    assert view.json()["reporter_count"] == 2
    assert view.json()["contact"] is None  # residents never see anyone's contact details
    staff_view = await intake.get(f"/v1/cases/{original}", headers=bearer(keys["street_offices"]["wanxing"]))
    assert staff_view.json()["contact"] == {"name": "张大爷", "phone": "13800138000"}
    # Far away (≈ 1 km): a different lamp, a new case.
    far = await intake.post("/v1/needs", json={**LIGHT, "location": {"lat": 39.1265, "lon": 117.1630}})
    assert far.status_code == 202
    # Only a grid worker may force a new case, and only as a grid worker.
    forced = {**near, "reporter": {"kind": "grid_worker"}, "force_new": True}
    anonymous = await intake.post("/v1/needs", json=forced)
    assert anonymous.status_code == 403
    assert anonymous.json()["fields"][0]["field"] == "reporter.kind"
    as_resident = await intake.post(
        "/v1/needs", json={**near, "force_new": True}, headers=bearer(keys["grid_workers"]["wanxing"])
    )
    assert as_resident.status_code == 403
    assert as_resident.json()["fields"][0]["field"] == "force_new"
    grid = await intake.post("/v1/needs", json=forced, headers=bearer(keys["grid_workers"]["wanxing"]))
    assert grid.status_code == 202, grid.text
    assert grid.json()["linked"] is False
    assert grid.json()["case_id"] != original
    ours = {original, far.json()["case_id"], grid.json()["case_id"]}
    records = await read_topic(
        kafka_bootstrap,
        f"{prefix}{INTAKE_EVENTS}",
        until=lambda recs: (
            ours <= {e["case_id"] for e in _events(recs, "lastmeter.need.submitted")}
            and any(e["case_id"] == original for e in _events(recs, "lastmeter.need.duplicate_linked"))
        ),
        timeout=20,
    )
    linked = [e for e in _events(records, "lastmeter.need.duplicate_linked") if e["case_id"] in ours]
    assert [(e["case_id"], e["reporter_count"]) for e in linked] == [(original, 2)]
    assert len([e for e in _events(records, "lastmeter.need.submitted") if e["case_id"] in ours]) == 3


async def test_idempotency_key_returns_the_first_response(intake: httpx.AsyncClient, database_url: str) -> None:
    headers = {"Idempotency-Key": "retry-7f3a"}
    need = {"category": "noise", "description": "楼下广场舞太吵", "community": "yibinxili"}
    first = await intake.post("/v1/needs", json=need, headers=headers)
    again = await intake.post("/v1/needs", json=need, headers=headers)
    assert first.status_code == again.status_code == 202
    # The same response, but tokens are stored only hashed: a replay hands out a fresh token for the
    # same submission and the earlier one stops working.
    assert {**again.json(), "access_token": None} == {**first.json(), "access_token": None}
    case = f"/v1/cases/{first.json()['case_id']}"
    assert (await intake.get(case, headers=bearer(again.json()["access_token"]))).status_code == 200
    assert (await intake.get(case, headers=bearer(first.json()["access_token"]))).status_code == 401
    other = await intake.post("/v1/needs", json={**need, "description": "另一件事"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["fields"][0]["field"] == "Idempotency-Key"
    bad = await intake.post("/v1/needs", json=LIGHT, headers={"Idempotency-Key": "x" * 300})
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "no_such_thing"}, "category"),
        ({"community": "atlantis"}, "community"),
        ({"location": {"lat": 91, "lon": 117.1}}, "location.lat"),
        ({"location": {"lat": 39.1, "lon": 181}}, "location.lon"),
        ({"location": {"lat": 0, "lon": 0}}, "lat"),
        ({"description": "路" * 4001}, "description"),
        ({"description": "   \n\t "}, "description"),
        ({"description": ""}, "description"),
        ({"description": "路灯\x00不亮"}, "description"),
        ({"description": "路灯\x1b[31m不亮"}, "description"),
        ({"grid": "chaoyangli-g1"}, "grid"),
        ({"pairing_id": "cyl-p001"}, "pairing_id"),
        ({"priority": "urgent"}, "priority"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_input_gets_a_4xx_naming_the_field(
    intake: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    resp = await intake.post("/v1/needs", json={**LIGHT, **change})
    assert resp.status_code == 422, resp.text
    assert field in [f["field"] for f in resp.json()["fields"]]


async def test_xml_body_to_a_json_route_is_refused(intake: httpx.AsyncClient) -> None:
    xml = "<need><description>路灯不亮</description></need>"
    resp = await intake.post("/v1/needs", content=xml, headers={"Content-Type": "application/xml"})
    assert resp.status_code == 415
    assert resp.json()["fields"][0]["field"] == "Content-Type"
    broken = await intake.post("/v1/needs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422


async def test_a_need_must_be_placed(intake: httpx.AsyncClient) -> None:
    nowhere = await intake.post("/v1/needs", json={"description": "路灯不亮"})
    assert nowhere.status_code == 422
    assert [f["field"] for f in nowhere.json()["fields"]] == ["community"]
    by_grid = await intake.post("/v1/needs", json={"description": "家里暖气不热", "grid": "yibinxili-g2"})
    assert by_grid.status_code == 202, by_grid.text
    by_point = await intake.post(
        "/v1/needs", json={"description": "暖气不热", "location": {"lat": 39.1091, "lon": 117.1661}}
    )
    assert by_point.status_code == 202, by_point.text
    far = await intake.post("/v1/needs", json={"description": "暖气不热", "location": {"lat": 31.23, "lon": 121.47}})
    assert far.status_code == 422
    assert far.json()["fields"][0]["field"] == "lat"


async def test_concurrent_submissions_share_a_commit_and_find_duplicates_among_themselves(
    intake: httpx.AsyncClient, database_url: str, prefix: str
) -> None:
    # The same blocked drain reported five times at once, beside twenty unrelated needs.
    drain = {
        "category": "sewer_blocked",
        "description": "下水道堵了，污水漫到路上",
        "community": "jinrongjie",
        "location": {"lat": 39.1190, "lon": 117.1700},
    }
    others = [
        {**drain, "description": f"下水道堵了 {i}", "location": {"lat": 39.1300 + i * 0.01, "lon": 117.1700}}
        for i in range(20)
    ]
    replies = await asyncio.gather(*(intake.post("/v1/needs", json=body) for body in [drain] * 5 + others))
    assert sorted(r.status_code for r in replies) == [200] * 4 + [202] * 21, [r.text for r in replies]
    same = {r.json()["case_id"] for r in replies[:5]}
    assert len(same) == 1  # one case; four reports linked to it, whichever came first
    assert max(r.json()["reporter_count"] for r in replies[:5]) == 5
    conn = await asyncpg.connect(database_url)
    try:
        case_ids = [r.json()["case_id"] for r in replies]
        stored = await conn.fetchval(
            f"SELECT reporter_count FROM {prefix}intake.cases WHERE case_id = $1", next(iter(same))
        )
        # Each committing transaction leaves its id on the rows it wrote: fewer than one per request.
        transactions = await conn.fetchval(
            f"SELECT count(DISTINCT xmin::text) FROM {prefix}intake.submissions WHERE case_id = ANY($1::text[])",
            case_ids,
        )
    finally:
        await conn.close()
    assert stored == 5
    assert transactions < len(replies)
