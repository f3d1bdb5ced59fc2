"""Pure pieces of shared/: the envelope, residents' tokens, who may see what, backoff, body limits."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from fastapi import FastAPI

from shared import auth
from shared.auth import Principal, generate_key, generate_resident_token, hash_key
from shared.events import PoisonMessage, make_event, parse_event
from shared.events.intake import NeedSubmitted
from shared.http import BodyLimitMiddleware, install_error_handlers
from shared.retry import Backoff, is_transient

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _need() -> NeedSubmitted:
    return NeedSubmitted(
        case_id="c1",
        category="street_light_out",
        description="路灯不亮",
        community="jinrongjie",
        street="wanxing",
        submitted_at=NOW,
    )


def test_envelope_round_trip_is_cloudevents_structured_json() -> None:
    event = make_event(_need(), source="/lastmeter/intake", subject="c1", time=NOW, trace_id="t-1")
    doc = orjson.loads(event.to_bytes())
    assert doc["specversion"] == "1.0"
    assert doc["datacontenttype"] == "application/json"
    assert doc["type"] == "lastmeter.need.submitted"
    assert doc["subject"] == "c1"
    assert doc["schemaversion"] == 1
    assert doc["traceid"] == "t-1"
    envelope, payload = parse_event(event.to_bytes())
    assert isinstance(payload, NeedSubmitted)
    assert payload.description == "路灯不亮"
    assert envelope.id == event.id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        (b"{nope", "not-json"),
        (b"[1, 2]", "not-an-envelope"),
        (b'{"specversion": "1.0"}', "invalid-envelope"),
    ],
)
def test_malformed_messages_are_poison_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonMessage) as caught:
        parse_event(raw)
    assert caught.value.reason == reason


def test_unknown_type_newer_version_and_invalid_payload_are_poison() -> None:
    event = make_event(_need(), source="/t", subject="c1", time=NOW)
    for update, reason in [
        ({"type": "lastmeter.unheard.of"}, "unknown-type"),
        ({"schemaversion": 99}, "unsupported-version"),
        ({"data": {**event.data, "submitted_at": "yesterday"}}, "schema-invalid"),
    ]:
        with pytest.raises(PoisonMessage) as caught:
            parse_event(event.model_copy(update=update).to_bytes())
        assert caught.value.reason == reason
    with pytest.raises(PoisonMessage) as caught:
        parse_event(event.model_copy(update={"data": {**event.data, "phone": "13800000000"}}).to_bytes())
    assert "phone" in caught.value.detail  # contact data is not part of any event contract


def test_resident_tokens_are_random_not_derived_from_the_case() -> None:
    a, b = generate_resident_token(), generate_resident_token()
    assert a != b
    assert a.startswith("rt_")
    assert len(a) >= 3 + 43  # 32 random bytes, URL-safe base64
    # Nothing can be computed from a case id any more: the old HMAC helpers are gone.
    assert not hasattr(auth, "issue_access_token")
    assert not hasattr(auth, "verify_access_token")


def test_api_keys_are_random_and_hashed() -> None:
    a, b = generate_key("department"), generate_key("department")
    assert a != b
    assert a.startswith("lm_department_")
    assert hash_key(a) != a
    assert len(hash_key(a)) == 64


def test_who_may_see_a_case() -> None:
    case = {"case_id": "c1", "street": "wanxing", "department": "water", "team": None}
    assert Principal(role="admin").can_see(**case)
    assert Principal(role="street_office", scope="wanxing").can_see(**case)
    assert not Principal(role="street_office", scope="nanyingmen").can_see(**case)
    assert Principal(role="department", scope="water").can_see(**case)
    assert not Principal(role="department", scope="gas").can_see(**case)
    assert Principal(role="department", scope="gas").can_see(**case, departments=("gas",))  # co-handler
    assert not Principal(role="team", scope="veterans").can_see(**case)
    assert Principal(role="resident", case_id="c1").can_see(**case)
    assert not Principal(role="resident", case_id="c2").can_see(**case)


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert delays[0] <= 0.1
    assert max(delays) <= 1.0
    assert delays[-1] >= 0.5
    backoff.reset()
    assert backoff.next_delay() <= 0.1
    assert is_transient(ConnectionResetError())
    assert not is_transient(KeyError("bug"))


def _echo_app(limit: int) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, int]:
        return {"size": len(body.get("text", ""))}

    app.add_middleware(BodyLimitMiddleware, default_limit=limit, limits={"/big": limit * 10})
    return app


async def test_body_limit_answers_413_for_announced_and_streamed_bodies() -> None:
    transport = httpx.ASGITransport(app=_echo_app(100))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/echo", json={"text": "short"})).status_code == 200
        announced = await client.post("/echo", json={"text": "x" * 200})
        assert announced.status_code == 413
        assert announced.json()["error"] == "payload_too_large"

        async def chunks():  # no Content-Length: the limit must hold while streaming
            for _ in range(10):
                yield b"x" * 50

        streamed = await client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413


async def test_a_database_outage_answers_503_not_500() -> None:
    import asyncpg

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/down")
    async def down() -> None:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("oops")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        unavailable = await client.get("/down")
        assert unavailable.status_code == 503
        assert unavailable.headers["retry-after"] == "2"
        assert unavailable.json()["error"] == "unavailable"
        broken = await client.get("/bug")
        assert broken.status_code == 500
        assert broken.json()["error"] == "internal"
