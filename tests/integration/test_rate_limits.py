"""Intake's submission limits with their default values: 429 with Retry-After, per client address."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.auth import generate_key, insert_key
from shared.catalogue import load_catalogue
from shared.provision import SERVICES, initialise
from shared.settings import REPO_ROOT
from tests.helpers import bearer, serving

DEFAULT_BURST = IntakeSettings.model_fields["rate_limit_burst"].default
DEFAULT_PER_MINUTE = IntakeSettings.model_fields["rate_limit_per_minute"].default
PROXY = "10.0.0.1"


@dataclass
class Limited:
    app: FastAPI
    keys: dict[str, Any]
    resident_key: str

    @asynccontextmanager
    async def client(self, peer: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client whose requests come from the socket address `peer`."""
        transport = httpx.ASGITransport(app=self.app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture(scope="module")
async def limited(kafka_bootstrap: str, database_url: str) -> AsyncIterator[Limited]:
    """One intake with the default limits, trusting one proxy; module-scoped (a start costs seconds)."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    keys = await initialise(
        dsn=database_url,
        bootstrap=kafka_bootstrap,
        catalogue=load_catalogue(REPO_ROOT / "catalogue" / "demo.yaml"),
        keys_file=None,
        topic_prefix=prefix,
        schema_prefix=prefix,
    )
    resident_key = generate_key("resident")  # e.g. a 311 app's key for residents
    conn = await asyncpg.connect(database_url)
    try:
        await insert_key(
            conn, auth_schema=f"{prefix}auth", key=resident_key, name="311 app", role="resident", scope=None
        )
    finally:
        await conn.close()
    settings = IntakeSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        schema_prefix=prefix,
        env="test",
        token_secret=uuid.uuid4().hex + uuid.uuid4().hex,
        trusted_proxies=[PROXY],
    )
    app = create_app(settings)
    try:
        async with serving(app):
            yield Limited(app, keys, resident_key)
    finally:
        conn = await asyncpg.connect(database_url)
        try:
            for name in (*SERVICES, "auth"):
                await conn.execute(f"DROP SCHEMA IF EXISTS {prefix}{name} CASCADE")
        finally:
            await conn.close()


def _need(i: int) -> dict[str, Any]:
    return {"category": "pothole", "description": f"路面有坑 {i}", "community": "huazhangli"}


def _assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert int(resp.headers["Retry-After"]) >= 1


async def _burst(post: Callable[[int], Any], n: int) -> list[int]:
    return [(await post(i)).status_code for i in range(n)]


async def test_the_default_limit_bites_anonymous_needs(limited: Limited) -> None:
    async with limited.client("203.0.113.10") as client:
        statuses = await _burst(lambda i: client.post("/v1/needs", json=_need(i)), DEFAULT_BURST)
        assert set(statuses) <= {200, 202}
        over = await client.post("/v1/needs", json=_need(99))
        _assert_limited(over)
        # 30 per minute: the next token is 2 s away.
        assert over.headers["Retry-After"] == str(round(60 / DEFAULT_PER_MINUTE))
        body = over.json()
        assert body["error"] == "too_many_requests"
        assert "submissions per client address" in body["message"]
        assert f"{DEFAULT_BURST} at once, then {DEFAULT_PER_MINUTE:g} per minute" in body["message"]
        # Claiming another address does not help: 127.0.0.1-style peers are no trusted proxy.
        spoofed = await client.post("/v1/needs", json=_need(98), headers={"X-Forwarded-For": "198.51.100.99"})
        _assert_limited(spoofed)
        # Staff keys have their own, per-key limit.
        office = limited.keys["street_offices"]["wanxing"]
        staff = await client.post("/v1/needs", json=_need(97), headers=bearer(office))
        assert staff.status_code in {200, 202}, staff.text
    async with limited.client("203.0.113.11") as other:
        assert (await other.post("/v1/needs", json=_need(96))).status_code in {200, 202}


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(limited: Limited) -> None:
    async with limited.client(PROXY) as proxy:
        # Bad bodies are refused (422) but still take a token: the check comes first.
        first = {"X-Forwarded-For": "1.2.3.4, 198.51.100.1"}  # the client's own "1.2.3.4" is not believed
        statuses = await _burst(lambda i: proxy.post("/v1/needs", json={}, headers=first), DEFAULT_BURST)
        assert statuses == [422] * DEFAULT_BURST
        _assert_limited(await proxy.post("/v1/needs", json={}, headers={"X-Forwarded-For": "198.51.100.1"}))
        # Two header lines read as one list: a first line the client wrote does not pick the bucket.
        two_lines = [("X-Forwarded-For", "198.51.100.77"), ("X-Forwarded-For", "198.51.100.1")]
        _assert_limited(await proxy.post("/v1/needs", json={}, headers=two_lines))
        # Another resident behind the same proxy has a bucket of their own.
        other = await proxy.post("/v1/needs", json={}, headers={"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 422


async def test_open311_post_over_the_limit_answers_429_in_the_open311_format(limited: Limited) -> None:
    form = {"api_key": limited.resident_key, "service_code": "pothole", "address_string": "朝阳里5号楼"}
    async with limited.client("203.0.113.20") as client:
        statuses = await _burst(
            lambda i: client.post("/open311/v2/requests.json", data={**form, "description": f"坑 {i}"}), DEFAULT_BURST
        )
        assert statuses == [200] * DEFAULT_BURST
        over = await client.post("/open311/v2/requests.json", data=form)
        _assert_limited(over)
        [error] = over.json()
        assert error["code"] == 429
        assert "submissions per client address" in error["description"]
        as_xml = await client.post("/open311/v2/requests.xml", data=form)
        _assert_limited(as_xml)
        doc = ET.fromstring(as_xml.content)
        assert doc.findtext("error/code") == "429"
        assert "retry after" in (doc.findtext("error/description") or "")
    # Guessing keys costs the guesser's tokens too.
    async with limited.client("203.0.113.21") as guesser:
        wrong = {**form, "api_key": "lm_admin_guess"}
        statuses = await _burst(lambda i: guesser.post("/open311/v2/requests.json", data=wrong), DEFAULT_BURST)
        assert statuses == [403] * DEFAULT_BURST
        _assert_limited(await guesser.post("/open311/v2/requests.json", data=wrong))
