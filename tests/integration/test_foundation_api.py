"""The HTTP contract every outside check relies on: health, readiness, errors that name the field, auth."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.main import create_app as create_notify
from services.notify.settings import NotifySettings
from tests.helpers import bearer, serving

NEED = {"category": "street_light_out", "description": "路灯不亮了", "community": "jinrongjie"}


@pytest.fixture
async def intake(make_settings: Any, keys: dict[str, Any]) -> Any:
    async with serving(create_intake(make_settings(IntakeSettings, max_body_bytes=64_000))) as client:
        yield client


async def test_health_readiness_and_openapi(intake: Any) -> None:
    assert (await intake.get("/healthz")).json()["status"] == "ok"
    ready = await intake.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert "/v1/needs" in (await intake.get("/openapi.json")).json()["paths"]


async def test_catalogue_lists(intake: Any) -> None:
    categories = (await intake.get("/v1/categories")).json()
    assert {"code", "name"} <= set(categories[0])
    assert "street_light_out" in {c["code"] for c in categories}
    communities = (await intake.get("/v1/communities")).json()
    assert "jinrongjie" in {c["code"] for c in communities}


async def test_submit_and_read_with_the_access_token(intake: Any) -> None:
    resp = await intake.post("/v1/needs", json=NEED)
    assert resp.status_code == 202
    body = resp.json()
    assert body["status"] == "submitted"
    case = await intake.get(f"/v1/cases/{body['case_id']}", headers=bearer(body["access_token"]))
    assert case.status_code == 200
    assert case.json()["category"] == "street_light_out"


async def test_bad_input_names_the_field(intake: Any) -> None:
    missing = await intake.post("/v1/needs", json={"category": "street_light_out"})
    assert missing.status_code == 422
    assert {"description", "community"} <= {f["field"] for f in missing.json()["fields"]}

    wrong_type = await intake.post("/v1/needs", json={**NEED, "location": {"lat": "north", "lon": 117.2}})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["fields"][0]["field"] == "location.lat"

    not_json = await intake.post("/v1/needs", content=b"{oops", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert "JSON" in not_json.json()["message"]

    unknown = await intake.post("/v1/needs", json={**NEED, "category": "unicorns"})
    assert unknown.status_code == 422
    assert unknown.json()["fields"][0]["field"] == "category"
    assert "street_light_out" in unknown.json()["fields"][0]["message"]  # lists the valid codes


async def test_oversized_body_is_413(intake: Any) -> None:
    resp = await intake.post("/v1/needs", json={**NEED, "description": "灯" * 70_000})
    assert resp.status_code == 413
    assert resp.json()["error"] == "payload_too_large"


async def test_unknown_case_and_credentials(intake: Any, keys: dict[str, Any]) -> None:
    created = (await intake.post("/v1/needs", json=NEED)).json()
    case_id = created["case_id"]
    assert (await intake.get(f"/v1/cases/{case_id}")).status_code == 401
    assert (await intake.get(f"/v1/cases/{case_id}", headers=bearer("lm_admin_forged"))).status_code == 401
    assert (await intake.get(f"/v1/cases/{case_id}", headers=bearer(keys["admin"]))).status_code == 200
    assert (await intake.get("/v1/cases/no-such-case", headers=bearer(keys["admin"]))).status_code == 404
    # A department that is not assigned to the case may not read it.
    assert (
        await intake.get(f"/v1/cases/{case_id}", headers=bearer(keys["departments"]["education"]))
    ).status_code == 403
    # Another case's access token opens only its own case.
    other = (await intake.post("/v1/needs", json=NEED)).json()
    assert (await intake.get(f"/v1/cases/{case_id}", headers=bearer(other["access_token"]))).status_code == 403


async def test_sse_needs_credentials(make_settings: Any, keys: dict[str, Any]) -> None:
    async with serving(create_notify(make_settings(NotifySettings))) as notify:
        resp = await notify.get("/v1/stream")
        assert resp.status_code == 401
        assert resp.json()["fields"][0]["field"] == "Authorization"
