"""Domain errors leave as the same JSON an ApiError would, and in Open311's format under /open311."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.intake.open311.api import install_error_handlers as install_open311
from shared.errors import Conflict, DomainError, Gone, InvalidInput, NotFound, RateLimited, http_status
from shared.http import install_error_handlers


def _app(exc: DomainError, *, open311: bool = False) -> httpx.AsyncClient:
    app = FastAPI()
    install_error_handlers(app)
    if open311:
        install_open311(app)

    @app.get("/v1/thing")
    @app.get("/open311/v2/requests.json")
    async def thing() -> None:
        raise exc

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_invalid_input_is_a_422_naming_the_field() -> None:
    response = await _app(InvalidInput("street", "unknown street")).get("/v1/thing")
    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_failed",
        "message": "street: unknown street",
        "fields": [{"field": "street", "message": "unknown street"}],
    }


async def test_not_found_keeps_its_code_and_extra_keys() -> None:
    response = await _app(NotFound("no such case", code="case_not_found", case_id="c1")).get("/v1/thing")
    assert response.status_code == 404
    assert response.json() == {"error": "case_not_found", "message": "no such case", "case_id": "c1"}


async def test_rate_limited_sets_retry_after() -> None:
    response = await _app(RateLimited("slow down", retry_after=7)).get("/v1/thing")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "too_many_requests"


async def test_under_open311_a_domain_error_takes_the_open311_shape() -> None:
    client = _app(NotFound("no such request"), open311=True)
    response = await client.get("/open311/v2/requests.json")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "no such request"}]
    assert (await client.get("/v1/thing")).json() == {"error": "not_found", "message": "no such request"}


def test_each_error_class_has_its_status() -> None:
    assert [http_status(e) for e in (Conflict("x"), Gone("x"), DomainError("x"))] == [409, 410, 400]
