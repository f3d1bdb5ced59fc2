"""Open311 GeoReport v2 on intake: every endpoint in JSON and XML against the spec's field lists, and its errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.intake.open311 import format as fmt_rules
from shared.catalogue import Catalogue
from shared.events import Assignee, EventData, make_event
from shared.events.routing import CaseProgressed
from shared.topics import ROUTING_EVENTS
from tests.helpers import bearer, eventually
from tests.integration.test_intake_needs import Stack, running_intake

V2 = "/open311/v2"
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
ATTRIBUTE_FIELDS = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
]
REQUEST_FIELDS = [
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url", "community",
]  # fmt: skip
URBAN = Assignee(kind="department", code="urban_mgmt")
POST_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[Stack]:
    async with running_intake(kafka_bootstrap, database_url, catalogue) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> httpx.AsyncClient:
    return stack.client


@pytest.fixture
def api_key(stack: Stack) -> str:
    return stack.keys["grid_workers"]["wanxing"]


def _xml_items(resp: httpx.Response, root: str, item: str) -> list[dict[str, Any]]:
    assert resp.headers["content-type"].startswith("text/xml")
    doc = ET.fromstring(resp.content)
    assert doc.tag == root
    return [{child.tag: (child.text or "") for child in element} for element in doc.findall(item)]


def _errors(resp: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    if fmt == "xml":
        return [{"code": int(e["code"]), "description": e["description"]} for e in _xml_items(resp, "errors", "error")]
    return resp.json()


async def _post(client: httpx.AsyncClient, fmt: str, form: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{V2}/requests.{fmt}", data=form)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_services_list_and_definitions(client: httpx.AsyncClient, catalogue: Catalogue, fmt: str) -> None:
    resp = await client.get(f"{V2}/services.{fmt}")
    assert resp.status_code == 200
    services = resp.json() if fmt == "json" else _xml_items(resp, "services", "service")
    assert [s["service_code"] for s in services] == [c.code for c in catalogue.categories]
    assert all(list(s) == SERVICE_FIELDS for s in services)
    gas = next(s for s in services if s["service_code"] == "gas_smell")
    assert str(gas["metadata"]).lower() == "true"
    assert "煤气味" in gas["keywords"]

    resp = await client.get(f"{V2}/services/gas_smell.{fmt}")
    assert resp.status_code == 200
    if fmt == "json":
        definition = resp.json()
        attributes = definition["attributes"]
        values = attributes[0]["values"]
    else:
        doc = ET.fromstring(resp.content)
        assert doc.tag == "service_definition"
        definition = {"service_code": doc.findtext("service_code")}
        attributes = [{c.tag: c for c in a} for a in doc.findall("attributes/attribute")]
        values = [{c.tag: c.text for c in v} for v in doc.findall("attributes/attribute/values/value")]
    assert definition["service_code"] == "gas_smell"
    assert [list(a) for a in attributes] == [ATTRIBUTE_FIELDS]
    assert [v["key"] for v in values] == ["yes", "no"]

    missing = await client.get(f"{V2}/services/no_such_service.{fmt}")
    assert missing.status_code == 404
    assert _errors(missing, fmt)[0]["code"] == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_request_then_read_it_by_id_token_and_list(
    client: httpx.AsyncClient, api_key: str, fmt: str
) -> None:
    lat = 39.1128 if fmt == "json" else 39.1090  # different places so the two runs are not duplicates
    form = {
        "api_key": api_key,
        "service_code": "gas_smell",
        "lat": str(lat),
        "long": "117.1585",
        "description": "楼道里有很重的煤气味",
        "attribute[smell_now]": "yes",
        "email": "resident@example.com",
        "phone": "13800138000",
        "first_name": "秀英",
        "last_name": "王",
        "account_id": "app-42",
        "media_url": "https://example.com/photo.jpg",
    }
    resp = await _post(client, fmt, form)
    assert resp.status_code == 200, resp.text
    created = resp.json() if fmt == "json" else _xml_items(resp, "service_requests", "request")
    assert list(created[0]) == POST_FIELDS
    request_id, token = created[0]["service_request_id"], created[0]["token"]
    assert created[0]["account_id"] == "app-42"

    one = await client.get(f"{V2}/requests/{request_id}.{fmt}")
    assert one.status_code == 200
    request = (one.json() if fmt == "json" else _xml_items(one, "service_requests", "request"))[0]
    assert list(request) == REQUEST_FIELDS
    assert request["status"] == "open"
    assert request["service_code"] == "gas_smell"
    assert float(request["lat"]) == pytest.approx(fmt_rules.coarsen(lat))  # the public sees a coarse place
    assert not request["media_url"]
    assert datetime.fromisoformat(request["requested_datetime"]).utcoffset() == timedelta(hours=8)
    # Public reads never carry contact data.
    for secret in ("resident@example.com", "13800138000", "秀英", "app-42"):
        assert secret not in one.text
    staff = await client.get(f"{V2}/requests/{request_id}.{fmt}", headers=bearer(api_key))
    request = (staff.json() if fmt == "json" else _xml_items(staff, "service_requests", "request"))[0]
    assert float(request["lat"]) == lat
    assert request["media_url"] == "https://example.com/photo.jpg"
    for secret in ("resident@example.com", "13800138000", "秀英", "app-42"):
        assert secret not in staff.text

    by_token = await client.get(f"{V2}/tokens/{token}.{fmt}")
    assert by_token.status_code == 200
    pairs = by_token.json() if fmt == "json" else _xml_items(by_token, "service_requests", "request")
    assert pairs == [{"service_request_id": request_id, "token": token}]

    listed = await client.get(f"{V2}/requests.{fmt}", params={"service_code": "gas_smell", "status": "open"})
    assert listed.status_code == 200
    items = listed.json() if fmt == "json" else _xml_items(listed, "service_requests", "request")
    assert request_id in [r["service_request_id"] for r in items]
    assert all(list(r) == REQUEST_FIELDS for r in items)
    closed = await client.get(f"{V2}/requests.{fmt}", params={"service_code": "gas_smell", "status": "closed"})
    items = closed.json() if fmt == "json" else _xml_items(closed, "service_requests", "request")
    assert request_id not in [r["service_request_id"] for r in items]


async def test_requests_filters_ids_override_and_paging(client: httpx.AsyncClient, api_key: str) -> None:
    ids = []
    for i in range(3):
        form = {"api_key": api_key, "service_code": "tree_trimming", "description": f"树枝挡窗 {i}"}
        form["address_string"] = f"金融街社区{i + 1}号楼"
        resp = await _post(client, "json", form)
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()[0]["service_request_id"])
    page1 = (await client.get(f"{V2}/requests.json", params={"service_code": "tree_trimming", "page_size": 2})).json()
    page2 = (
        await client.get(f"{V2}/requests.json", params={"service_code": "tree_trimming", "page_size": 2, "page": 2})
    ).json()
    assert len(page1) == 2
    assert len(page2) == 1
    assert {r["service_request_id"] for r in page1 + page2} == set(ids)
    # service_request_id overrides every other filter, even a contradictory one.
    chosen = (
        await client.get(
            f"{V2}/requests.json", params={"service_request_id": f"{ids[0]},{ids[2]}", "service_code": "noise"}
        )
    ).json()
    assert {r["service_request_id"] for r in chosen} == {ids[0], ids[2]}
    # Outside the date window: nothing; default window: the last 90 days.
    old = (
        await client.get(
            f"{V2}/requests.json",
            params={"service_code": "tree_trimming", "start_date": "2020-01-01", "end_date": "2020-02-01"},
        )
    ).json()
    assert old == []
    now = datetime.now(UTC)
    window = {"start_date": (now - timedelta(days=1)).isoformat(), "end_date": (now + timedelta(days=1)).isoformat()}
    recent = (await client.get(f"{V2}/requests.json", params={"service_code": "tree_trimming", **window})).json()
    assert len(recent) == 3


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("change", "code", "names"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "lm_admin_wrong"}, 403, "api_key"),
        ({"service_code": "no_such_service"}, 400, "service_code"),
        ({"service_code": None}, 400, "service_code"),
        ({"lat": "91"}, 400, "lat"),
        ({"long": "-181"}, 400, "long"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"lat": "abc"}, 400, "lat"),
        ({"description": "路" * 4001}, 400, "description"),
        ({"description": "  \t "}, 400, "description"),
        ({"description": "煤气味\x07"}, 400, "description"),
        ({"attribute[smell_now]": None}, 400, "attribute[smell_now]"),
        ({"attribute[smell_now]": "maybe"}, 400, "attribute[smell_now]"),
        ({"attribute[colour]": "red"}, 400, "attribute[colour]"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"jurisdiction_id": "beijing"}, 404, "jurisdiction_id"),
    ],
)
async def test_post_request_bad_input(
    client: httpx.AsyncClient, api_key: str, fmt: str, change: dict[str, Any], code: int, names: str
) -> None:
    form = {
        "api_key": api_key,
        "service_code": "gas_smell",
        "lat": "39.1175",
        "long": "117.1630",
        "description": "煤气味",
        "attribute[smell_now]": "no",
    }
    form.update(change)
    resp = await _post(client, fmt, {k: v for k, v in form.items() if v is not None})
    assert resp.status_code == code
    errors = _errors(resp, fmt)
    assert errors[0]["code"] == code
    assert names in errors[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_request_refuses_json_and_xml_bodies(client: httpx.AsyncClient, api_key: str, fmt: str) -> None:
    as_json = await client.post(f"{V2}/requests.{fmt}", json={"api_key": api_key, "service_code": "noise"})
    as_xml = await client.post(
        f"{V2}/requests.{fmt}", content=b"<request><service_code>noise</service_code></request>",
        headers={"Content-Type": "application/xml"},
    )  # fmt: skip
    for resp in (as_json, as_xml):
        assert resp.status_code == 400
        assert "form-encoded" in _errors(resp, fmt)[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}, 400, "90 days"),
        ({"start_date": "2026-05-01T00:00:00Z", "end_date": "2026-04-01T00:00:00Z"}, 400, "start_date"),
        ({"start_date": "yesterday"}, 400, "start_date"),
        ({"page_size": "1000"}, 400, "page_size"),
        ({"page": "0"}, 400, "page"),
        ({"status": "pending"}, 400, "status"),
        ({"service_code": "no_such_service"}, 400, "service_code"),
    ],
)
async def test_get_requests_bad_filters(
    client: httpx.AsyncClient, fmt: str, params: dict[str, str], code: int, names: str
) -> None:
    resp = await client.get(f"{V2}/requests.{fmt}", params=params)
    assert resp.status_code == code
    errors = _errors(resp, fmt)
    assert errors[0]["code"] == code
    assert names in errors[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_not_found_in_the_spec_shape_while_native_errors_keep_theirs(client: httpx.AsyncClient, fmt: str) -> None:
    for path in (f"{V2}/requests/nope.{fmt}", f"{V2}/tokens/nope.{fmt}", f"{V2}/nothing-here.{fmt}"):
        resp = await client.get(path)
        assert resp.status_code == 404, path
        assert _errors(resp, fmt)[0]["code"] == 404
    native = await client.get("/v1/cases/nope", headers={"Authorization": "Bearer nope"})
    assert native.status_code == 401
    assert native.json()["error"] == "unauthorized"


async def test_duplicate_post_points_to_the_open_request(client: httpx.AsyncClient, api_key: str) -> None:
    form = {
        "api_key": api_key,
        "service_code": "sewer_blocked",
        "lat": "39.1152",
        "long": "117.1948",
        "description": "下水道堵了, 污水外溢",
    }
    first = (await _post(client, "json", form)).json()[0]
    second = (await _post(client, "json", {**form, "description": "下水堵"})).json()[0]
    assert second["service_request_id"] == first["service_request_id"]
    assert second["token"] != first["token"]
    assert "linked" in second["service_notice"]
    request = (await client.get(f"{V2}/requests/{first['service_request_id']}.json")).json()[0]
    assert request["service_notice"] == "2 residents reported this"


async def _produce(bootstrap: str, topic: str, *events: EventData) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for data in events:
            case_id = data.case_id  # type: ignore[attr-defined]
            event = make_event(data, source="/test", subject=case_id, time=datetime.now(UTC))
            await producer.send_and_wait(topic, value=event.to_bytes(), key=case_id.encode())
    finally:
        await producer.stop()


def _items(resp: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    return resp.json() if fmt == "json" else _xml_items(resp, "service_requests", "request")


STAFF_NOTE = "内部: 王秀英独居, 先打13900001111"
PUBLIC_NOTE = "已安排修补"


async def _noted(stack: Stack, kafka_bootstrap: str, case_id: str, key: str) -> None:
    """A progress event with a staff note and a public one, applied by intake."""
    at = datetime.now(UTC) + timedelta(seconds=1)
    progress = CaseProgressed(
        case_id=case_id, assignee=URBAN, note=STAFF_NOTE, public_note=PUBLIC_NOTE, first_feedback=True, at=at
    )
    await _produce(kafka_bootstrap, f"{stack.prefix}{ROUTING_EVENTS}", progress)

    async def applied() -> bool:
        resp = await stack.client.get(f"{V2}/requests/{case_id}.json", headers=bearer(key))
        return resp.json()[0]["status_notes"] == STAFF_NOTE

    await eventually(applied, timeout=20)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_public_reads_show_a_public_feed_and_staff_in_scope_see_the_rest(
    stack: Stack, catalogue: Catalogue, kafka_bootstrap: str, fmt: str
) -> None:
    client, keys = stack.client, stack.keys
    office, grid = keys["street_offices"]["wanxing"], catalogue.communities[0].grids[0].code
    lat, lon = (39.11613, 117.16217) if fmt == "json" else (39.11011, 117.16597)
    form = {
        "api_key": keys["grid_workers"]["wanxing"],
        "service_code": "pothole",
        "lat": str(lat),
        "long": str(lon),
        "address_string": "金融街7号楼2门",
        "address_id": grid,
        "description": "路面塌了个坑, 请联系王秀英 13900001111",
        "media_url": "https://example.com/door.jpg",
    }
    created = await _post(client, fmt, form)
    case_id = _items(created, fmt)[0]["service_request_id"]
    await _noted(stack, kafka_bootstrap, case_id, office)
    secrets = ("金融街7号", grid, "王秀英", "13900001111", "door.jpg", str(lat), str(lon), "内部")

    one = await client.get(f"{V2}/requests/{case_id}.{fmt}")
    listed = await client.get(f"{V2}/requests.{fmt}", params={"service_request_id": case_id})
    out_of_scope = [
        await client.get(f"{V2}/requests/{case_id}.{fmt}", headers=bearer(keys["street_offices"]["nanyingmen"])),
        await client.get(f"{V2}/requests/{case_id}.{fmt}", headers=bearer(keys["departments"]["water"])),
    ]
    empty = None if fmt == "json" else ""
    for resp in (one, listed, *out_of_scope):
        request = _items(resp, fmt)[0]
        for secret in secrets:
            assert secret not in resp.text, (secret, resp.url)
        assert request["service_code"] == "pothole"
        assert request["status"] == "open"
        assert request["status_notes"] == PUBLIC_NOTE
        assert request["community"] == "jinrongjie"
        assert float(request["lat"]) == pytest.approx(fmt_rules.coarsen(lat))
        assert float(request["long"]) == pytest.approx(fmt_rules.coarsen(lon))
        assert [request[k] for k in ("address", "address_id", "description", "media_url")] == [empty] * 4

    for staff in (
        await client.get(f"{V2}/requests/{case_id}.{fmt}", headers=bearer(office)),
        await client.get(f"{V2}/requests.{fmt}", params={"service_request_id": case_id}, headers=bearer(office)),
    ):
        request = _items(staff, fmt)[0]
        assert (float(request["lat"]), float(request["long"])) == (lat, lon)
        assert request["address"] == "金融街7号楼2门"
        assert request["address_id"] == grid
        assert "13900001111" in request["description"]
        assert request["status_notes"] == STAFF_NOTE

    bad = await client.get(f"{V2}/requests/{case_id}.{fmt}", headers=bearer("lm_admin_wrong"))
    assert bad.status_code == 403
    assert "Authorization" in _errors(bad, fmt)[0]["description"]
    # A key in a URL ends up in access logs: refused, whatever the key.
    for path in (f"{V2}/requests/{case_id}.{fmt}", f"{V2}/requests.{fmt}"):
        in_url = await client.get(path, params={"api_key": office})
        assert in_url.status_code == 400
        assert _errors(in_url, fmt)[0]["description"].startswith("api_key: never in a URL")
    posted = await client.post(f"{V2}/requests.{fmt}", params={"api_key": office}, data={"service_code": "pothole"})
    assert posted.status_code == 400
    assert "never in the URL" in _errors(posted, fmt)[0]["description"]


async def test_a_vulnerable_residents_case_shows_no_place_and_no_note_publicly(
    stack: Stack, kafka_bootstrap: str
) -> None:
    client, office = stack.client, stack.keys["street_offices"]["wanxing"]
    need = {
        "category": "empty_nest_care",
        "description": "独居的李奶奶需要有人每天来看看",
        "community": "yibinxili",
        "location": {"lat": 39.11291, "lon": 117.15866},
        "address": "宜宾西里4号楼101",
        "vulnerable": True,
    }
    resp = await client.post("/v1/needs", json=need)
    assert resp.status_code == 202, resp.text
    case_id = resp.json()["case_id"]
    await _noted(stack, kafka_bootstrap, case_id, office)
    for fmt in ("json", "xml"):
        public = await client.get(f"{V2}/requests/{case_id}.{fmt}")
        request = _items(public, fmt)[0]
        hidden = [request[k] for k in ("lat", "long", "status_notes", "description", "address")]
        assert hidden == [None if fmt == "json" else ""] * 5
        assert request["community"] == "yibinxili"
        for secret in ("李奶奶", "4号楼", "39.11", "117.15", PUBLIC_NOTE, "王秀英"):
            assert secret not in public.text
    staff = (await client.get(f"{V2}/requests/{case_id}.json", headers=bearer(office))).json()[0]
    assert (staff["lat"], staff["address"], staff["status_notes"]) == (39.11291, "宜宾西里4号楼101", STAFF_NOTE)
