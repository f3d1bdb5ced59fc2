"""SSE scoping and resumption, a client that never reads, e-mail over real SMTP, SMS via the dev provider."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.devstack import free_port
from shared.events.intake import DuplicateLinked
from tests.helpers import bearer, eventually
from tests.integration.notify_sub_helpers import code_in, resident_token
from tests.integration.test_notify_support import (
    T0,
    dept,
    new_case,
    producer,
    publish,
    routed,
    running,
    sse_events,
    submitted,
)


async def test_sse_is_scoped_and_resumes_without_a_gap(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    app = create_app(make_settings(NotifySettings))
    wanxing, nanyingmen = new_case(), new_case()
    async with running(app) as (url, _), producer(kafka_bootstrap) as p:
        street_key = keys["street_offices"]["wanxing"]
        reader = asyncio.create_task(sse_events(url, street_key, want=3))
        dept_reader = asyncio.create_task(sse_events(url, keys["departments"]["power"], want=1))
        await asyncio.sleep(0.5)  # let both readers connect before the events are produced
        await publish(
            p, f"{prefix}intake.events", submitted(nanyingmen, street="nanyingmen"), case_id=nanyingmen, at=T0
        )
        await publish(p, f"{prefix}intake.events", submitted(wanxing), case_id=wanxing, at=T0)
        await publish(
            p,
            f"{prefix}routing.events",
            routed(wanxing, to=dept("urban_mgmt"), co=[dept("power")]),
            case_id=wanxing,
            at=T0,
        )
        third = new_case()
        await publish(p, f"{prefix}intake.events", submitted(third), case_id=third, at=T0)
        got = await asyncio.wait_for(reader, 20)
        assert {e["data"]["subject"] for e in got} == {wanxing, third}  # not the other street's case
        power = await asyncio.wait_for(dept_reader, 20)
        assert power[0]["data"]["subject"] == wanxing
        assert power[0]["event"] == "lastmeter.case.routed"
        # Reconnect after the first event: the rest arrive, nothing skipped, nothing repeated.
        resumed = await asyncio.wait_for(sse_events(url, street_key, want=2, last_event_id=got[0]["id"]), 20)
        assert [e["id"] for e in resumed] == [e["id"] for e in got[1:3]]
        # A stream id that is not one is refused, naming the header.
        async with httpx.AsyncClient(base_url=url) as client:
            bad = await client.get("/v1/stream", headers={**bearer(street_key), "Last-Event-ID": "abc"})
            assert bad.status_code == 422
            assert bad.json()["fields"][0]["field"] == "Last-Event-ID"
            anon = await client.get("/v1/stream")
            assert anon.status_code == 401


async def test_resident_follows_own_and_linked_case(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str, database_url: str
) -> None:
    app = create_app(make_settings(NotifySettings))
    original, mine = new_case(), new_case()
    token = await resident_token(database_url, prefix, case_id=mine)  # my report was linked to the open case
    async with running(app) as (url, client), producer(kafka_bootstrap) as p:
        await publish(p, f"{prefix}intake.events", submitted(original), case_id=original, at=T0)
        link = DuplicateLinked(case_id=original, submission_id=mine, reporter_count=2, linked_at=T0)
        await publish(p, f"{prefix}intake.events", link, case_id=original, at=T0)

        async def linked() -> bool:
            return bool(
                await app.state.runtime.pool.fetchval("SELECT count(*) FROM links WHERE case_id = $1", original)
            )

        await eventually(linked)
        sub = await client.post(
            "/v1/subscriptions",
            headers=bearer(token),
            json={"channel": "sms", "target": "+8613800000000", "scope": {"kind": "case", "code": original}},
        )
        assert sub.status_code == 201, sub.text
        assert sub.json()["target"] == "+86****0000"  # contact details are shown masked
        assert sub.json()["confirmed"] is False

        async def texts(at_least: int = 1) -> list[Any] | None:
            rows = await app.state.runtime.pool.fetch("SELECT phone, body FROM sms_messages ORDER BY id")
            return [dict(r) for r in rows] if len(rows) >= at_least else None

        [code_text] = await eventually(texts)  # the phone gets its code at once, and nothing else yet
        assert code_text["phone"] == "+8613800000000"
        reader = asyncio.create_task(sse_events(url, token, want=1))
        await asyncio.sleep(0.5)
        await publish(p, f"{prefix}routing.events", routed(original, to=dept("urban_mgmt")), case_id=original, at=T0)
        got = await asyncio.wait_for(reader, 20)
        assert got[0]["data"]["subject"] == original
        await asyncio.sleep(1.5)  # time enough for a wrong delivery to show up
        assert len(await texts() or []) == 1  # unconfirmed: the routing reached the stream, not the phone
        sub_id = sub.json()["id"]
        confirmed = await client.post(
            f"/v1/subscriptions/{sub_id}/confirm", headers=bearer(token), json={"code": code_in(code_text["body"])}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["confirmed"] is True
        later = routed(original, to=dept("urban_mgmt"), at=T0 + timedelta(seconds=30), attempt=2)
        await publish(p, f"{prefix}routing.events", later, case_id=original, at=T0)
        sms = await eventually(lambda: texts(2))
        assert sms[1]["phone"] == "+8613800000000"
        assert "城市管理委员会" in sms[1]["body"]  # rendered from the Chinese template with catalogue names


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


async def test_email_over_a_real_smtp_server(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    sink = _Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    case_id = new_case()
    app = create_app(make_settings(NotifySettings, smtp_port=port))
    urban = bearer(keys["departments"]["urban_mgmt"])
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            subs = {}
            for language in ("zh", "en"):
                resp = await client.post(
                    "/v1/subscriptions",
                    headers=urban,
                    json={
                        "channel": "email",
                        "target": f"{language}@urban-mgmt.example",
                        "language": language,
                        "event_types": ["lastmeter.case.routed"],
                    },
                )
                assert resp.status_code == 201, resp.text
                subs[f"{language}@urban-mgmt.example"] = resp.json()["id"]
            # Each mailbox first gets a code, and nothing else until the code comes back.
            assert len(sink.messages) == 2
            codes = {message_from_bytes(raw)["To"]: code_in(_text(raw)) for raw in sink.messages}
            await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            await publish(p, f"{prefix}routing.events", routed(case_id, to=dept("urban_mgmt")), case_id=case_id, at=T0)
            await asyncio.sleep(2.0)  # time enough for a wrong delivery to show up
            assert len(sink.messages) == 2
            zh_sub = subs["zh@urban-mgmt.example"]
            wrong = "000000" if codes["zh@urban-mgmt.example"] != "000000" else "111111"
            bad_code = await client.post(f"/v1/subscriptions/{zh_sub}/confirm", headers=urban, json={"code": wrong})
            assert bad_code.status_code == 422
            assert bad_code.json()["fields"][0]["field"] == "code"
            for to, sub_id in subs.items():
                ok = await client.post(f"/v1/subscriptions/{sub_id}/confirm", headers=urban, json={"code": codes[to]})
                assert ok.status_code == 200, ok.text
            again = await client.post(f"/v1/subscriptions/{zh_sub}/confirm", headers=urban, json={"code": wrong})
            assert again.status_code == 409
            second = new_case()
            await publish(p, f"{prefix}intake.events", submitted(second), case_id=second, at=T0)
            await publish(p, f"{prefix}routing.events", routed(second, to=dept("urban_mgmt")), case_id=second, at=T0)
            await eventually(lambda: _ready(len(sink.messages) >= 4))
            subjects = {}
            for raw in sink.messages[2:]:
                mail = message_from_bytes(raw)
                subjects[mail["To"]] = str(make_header(decode_header(mail["Subject"])))
            assert "诉求已派单至城市管理委员会" in subjects["zh@urban-mgmt.example"]
            assert "dispatched to Urban Management Commission" in subjects["en@urban-mgmt.example"]
            bad = await client.post(
                "/v1/subscriptions",
                headers=bearer(keys["departments"]["urban_mgmt"]),
                json={"channel": "email", "target": "not-an-address"},
            )
            assert bad.status_code == 422
            assert bad.json()["fields"][0]["field"] == "target"
    finally:
        controller.stop()


async def _ready(value: bool) -> bool:
    return value


def _text(raw: bytes) -> str:
    """A mail's decoded subject and body."""
    mail = message_from_bytes(raw)
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    return str(make_header(decode_header(mail["Subject"]))) + "\n" + body.decode(mail.get_content_charset() or "utf-8")


async def test_a_client_that_never_reads_is_dropped_without_harming_others(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    app = create_app(make_settings(NotifySettings, sse_queue_size=40))
    street_key = keys["street_offices"]["wanxing"]
    async with running(app) as (url, _), producer(kafka_bootstrap) as p:
        host, port = url.removeprefix("http://").split(":")
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect((host, int(port)))
        stuck.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {street_key}\r\n\r\n".encode())
        hub = await eventually(lambda: _ready(app.state.runtime.extras.hub.get_or_none()))
        await eventually(lambda: _ready(hub.clients >= 1))
        try:
            big = "路灯不亮" * 2000  # large events fill the socket buffers quickly
            for _ in range(40):
                reader = asyncio.create_task(sse_events(url, street_key, want=10))
                await asyncio.sleep(0.3)
                for _ in range(10):
                    case_id = new_case()
                    await publish(
                        p, f"{prefix}intake.events", submitted(case_id, description=big), case_id=case_id, at=T0
                    )
                got = await asyncio.wait_for(reader, 20)  # a reading client gets every event meanwhile
                assert len(got) == 10
                if hub.dropped:
                    break
            assert hub.dropped >= 1
        finally:
            stuck.close()
