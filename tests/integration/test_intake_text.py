"""Every free-text field intake takes, native or Open311 form, goes through the one cleaning rule."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.catalogue import Catalogue
from tests.helpers import bearer
from tests.integration.test_intake_needs import Stack, running_intake

NEED = {"category": "noise", "description": "楼上每晚装修到十二点", "community": "yibinxili"}


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[Stack]:
    async with running_intake(kafka_bootstrap, database_url, catalogue) as running:
        yield running


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "楼上\x00装修"}, "description"),
        ({"description": "楼上\x1b[2J装修"}, "description"),
        ({"description": "楼上\x85装修"}, "description"),
        ({"description": "楼上\ud800装修"}, "description"),
        ({"address": "宜宾西里\x003号楼"}, "address"),
        # Codes too: an address_id is stored as given, and a NUL there used to answer 500.
        ({"address_id": "g\x00"}, "address_id"),
        ({"reporter": {"name": "王\x07"}}, "reporter.name"),
    ],
)
async def test_control_characters_in_a_need_answer_422_naming_the_field(
    stack: Stack, change: dict[str, Any], field: str
) -> None:
    # json.dumps escapes as \uXXXX, so a lone surrogate can be sent at all (as a JSON client may).
    body = json.dumps({**NEED, **change})
    resp = await stack.client.post("/v1/needs", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert field in [f["field"] for f in resp.json()["fields"]]
    assert "control characters" in resp.text


async def test_bidi_overrides_are_stripped_from_what_a_resident_writes(stack: Stack) -> None:
    body = {**NEED, "description": "楼上\u202e每晚\u202c装修到十二点", "address": "宜宾西里\u20673号楼\u2069"}
    resp = await stack.client.post("/v1/needs", json=body)
    assert resp.status_code == 202, resp.text
    office = stack.keys["street_offices"]["wanxing"]
    case = (await stack.client.get(f"/v1/cases/{resp.json()['case_id']}", headers=bearer(office))).json()
    assert case["description"] == "楼上每晚装修到十二点"
    assert case["address"] == "宜宾西里3号楼"


@pytest.mark.parametrize("field", ["address_id", "media_url", "attribute[smell_now]", "description", "account_id"])
async def test_open311_form_fields_go_through_the_same_rule(stack: Stack, field: str) -> None:
    form = {
        "api_key": stack.keys["grid_workers"]["wanxing"],
        "service_code": "gas_smell",
        "address_string": "金融街2号楼",
        "attribute[smell_now]": "yes",
        field: "x\x00y",
    }
    resp = await stack.client.post("/open311/v2/requests.json", data=form)
    assert resp.status_code == 400, resp.text
    assert resp.json()[0]["description"].startswith(f"{field}: must not contain control characters")
