"""Webhooks against real local HTTP receivers: signature, retries, dead letter, replay, isolation, scope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from services.notify.signing import verify
from shared.clock import ManualClock
from tests.helpers import bearer, eventually
from tests.integration.notify_sub_helpers import PUBLIC, ScriptedResolver, resident_token
from tests.integration.test_notify_support import (
    T0,
    Receiver,
    dept,
    new_case,
    producer,
    publish,
    routed,
    running,
    submitted,
)

SECRET = "s3cret-for-webhook-tests"


async def _subscribe(client: Any, key: str, url: str, **extra: Any) -> dict[str, Any]:
    resp = await client.post(
        "/v1/subscriptions", headers=bearer(key), json={"channel": "webhook", "target": url, "secret": SECRET, **extra}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_signed_delivery_a_receiver_can_verify_and_no_duplicate_on_redelivery(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    receiver = await Receiver().start()
    case_id = new_case()
    app = create_app(make_settings(NotifySettings, webhook_allow_loopback=True))  # the receiver is local
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            # Only routings: whether need.submitted reaches the department depends on which topic notify reads first.
            only = {"event_types": ["lastmeter.case.routed"]}
            sub = await _subscribe(client, keys["departments"]["urban_mgmt"], receiver.url, **only)
            assert sub["scope"] == {"kind": "department", "code": "urban_mgmt"}
            assert "secret" not in sub
            assert sub["secret_set"] is True
            await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            event = routed(case_id, to=dept("urban_mgmt"))
            event_id = await publish(p, f"{prefix}routing.events", event, case_id=case_id, at=T0)
            # The broker hands the same event over again (a redelivery): nobody is notified twice.
            await publish(p, f"{prefix}routing.events", event, case_id=case_id, at=T0, event_id=event_id)
            await eventually(lambda: _async(len(receiver.requests) >= 1))
            delivered = await eventually(lambda: _deliveries(client, keys["admin"], case_id, status="delivered"))
            await publish(p, f"{prefix}routing.events", event, case_id=case_id, at=T0, event_id=event_id)
            await asyncio.sleep(1.0)  # give a wrong second delivery the chance to show up
            assert len(receiver.requests) == 1
            assert len(await _deliveries(client, keys["admin"], case_id)) == 1
            got = receiver.requests[0]
            assert verify(
                SECRET,
                signature=got.headers["x-lastmeter-signature"],
                timestamp=got.headers["x-lastmeter-timestamp"],
                body=got.body,
                now=time.time(),
            )
            assert not verify(
                "wrong-secret-wrong-secret",
                signature=got.headers["x-lastmeter-signature"],
                timestamp=got.headers["x-lastmeter-timestamp"],
                body=got.body,
                now=time.time(),
            )
            assert got.headers["x-lastmeter-delivery-id"] == f"dlv_{delivered[0]['id']}"
            assert got.json()["id"] == event_id
            assert got.json()["type"] == "lastmeter.case.routed"
            # Deliveries are the department's own to read; another department sees none of them.
            other = await client.get("/v1/deliveries", headers=bearer(keys["departments"]["water"]))
            assert other.json() == []
    finally:
        await receiver.stop()


async def _async(value: Any) -> Any:
    return value


async def _deliveries(client: Any, key: str, case_id: str, status: str | None = None) -> list[dict[str, Any]]:
    params = {"case_id": case_id} | ({"status": status} if status else {})
    resp = await client.get("/v1/deliveries", headers=bearer(key), params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_failing_receiver_is_retried_then_dead_lettered_then_replayed(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    receiver = await Receiver(status=500, body_bytes=5_000_000).start()  # a 500 with a huge body
    clock = ManualClock(T0)
    case_id = new_case()
    app = create_app(make_settings(NotifySettings, delivery_poll_seconds=0.1, webhook_allow_loopback=True), clock=clock)
    admin = keys["admin"]
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            await _subscribe(client, keys["street_offices"]["wanxing"], receiver.url)
            await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            first = (await eventually(lambda: _deliveries(client, admin, case_id, status="retrying")))[0]
            answer = await client.get(f"/v1/deliveries/{first['id']}", headers=bearer(admin))
            detail = answer.json()
            attempt = detail["attempt_log"][0]
            assert attempt["outcome"] == "http_error"
            assert attempt["status_code"] == 500
            assert "response_excerpt" not in attempt  # status and timing only, never what the receiver said
            assert "xxxx" not in answer.text
            assert detail["next_attempt_at"] > detail["created_at"]
            # Time passes (on the injected clock): it is retried, still failing.
            clock.advance(timedelta(hours=2))
            app.state.runtime.extras.delivery_worker.get().wake()

            async def tried_twice() -> bool:
                d = (await client.get(f"/v1/deliveries/{first['id']}", headers=bearer(admin))).json()
                return d["attempts"] >= 2 and d["status"] == "retrying"

            await eventually(tried_twice)
            # 24 h later the retry window is spent: the delivery is dead-lettered as failed.
            clock.advance(timedelta(hours=25))
            app.state.runtime.extras.delivery_worker.get().wake()
            failed = await eventually(lambda: _deliveries(client, admin, case_id, status="failed"))
            assert failed[0]["id"] == first["id"]
            listed = (await client.get("/v1/deliveries", params={"status": "failed"}, headers=bearer(admin))).json()
            assert first["id"] in {d["id"] for d in listed}
            # Only operators replay; the receiver is fixed; the replay delivers it.
            denied = await client.post(
                f"/v1/deliveries/{first['id']}/replay", headers=bearer(keys["street_offices"]["wanxing"])
            )
            assert denied.status_code == 403
            receiver.status = 200
            receiver.body_bytes = 2
            replayed = await client.post(f"/v1/deliveries/{first['id']}/replay", headers=bearer(admin))
            assert replayed.status_code == 202
            assert replayed.json()["status"] == "pending"
            await eventually(lambda: _deliveries(client, admin, case_id, status="delivered"))
            again = await client.post(f"/v1/deliveries/{first['id']}/replay", headers=bearer(admin))
            assert again.status_code == 409
            ids = {r.headers["x-lastmeter-delivery-id"] for r in receiver.requests}
            assert ids == {f"dlv_{first['id']}"}  # the same idempotency key on every attempt
    finally:
        await receiver.stop()


async def test_a_stuck_receiver_does_not_delay_others_and_times_out(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    stuck = await Receiver(hang=asyncio.Event()).start()
    fine = await Receiver().start()
    app = create_app(
        make_settings(
            NotifySettings, webhook_timeout_seconds=3.0, delivery_per_destination=2, webhook_allow_loopback=True
        )
    )
    cases = [new_case() for _ in range(6)]
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            street = keys["street_offices"]["wanxing"]
            await _subscribe(client, street, stuck.url)
            await _subscribe(client, street, fine.url)
            for case_id in cases:
                await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            await eventually(lambda: _async(len(fine.requests) >= len(cases)))
            # Everything reached the healthy receiver while the stuck one still holds its first requests.
            assert not stuck.hang.is_set()  # type: ignore[union-attr]
            assert len(stuck.requests) <= 2  # never more in flight than its per-destination limit

            async def timed_out() -> list[dict[str, Any]] | None:
                rows = await app.state.runtime.pool.fetch(
                    "SELECT outcome FROM delivery_attempts WHERE outcome = 'timeout'"
                )
                return [dict(r) for r in rows] or None

            assert await eventually(timed_out, timeout=20)
    finally:
        await stuck.stop()
        await fine.stop()


UNSAFE_URLS = [
    ("ftp://example.org/hook", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost:9/hook", "loopback"),
    ("http://[::1]:9/hook", "loopback"),
    ("http://10.1.2.3:8080/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata host"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://0x7f000001/hook", "obfuscated"),
    ("http://2852039166/", "obfuscated"),
    ("http://0177.0.0.1/", "obfuscated"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://loopback.hooks.test/hook", "resolves to a loopback"),  # a name that answers 127.0.0.1
    ("http://internal.hooks.test/hook", "resolves to a private"),  # one public, one internal address
    ("http://nowhere.hooks.test/hook", "does not resolve"),
    ("not a url", "only http and https"),
]
NAMES = ScriptedResolver(
    {
        "hooks.example.org": [[PUBLIC]],
        "loopback.hooks.test": [["127.0.0.1"]],
        "internal.hooks.test": [[PUBLIC, "10.0.0.8"]],
    }
)


async def test_unsafe_webhook_urls_are_refused(make_settings: Callable[..., Any], keys: dict[str, Any]) -> None:
    app = create_app(make_settings(NotifySettings), resolver=NAMES)  # loopback not allowed: the default
    async with running(app) as (_, client):
        for url, reason in UNSAFE_URLS:
            resp = await client.post(
                "/v1/subscriptions",
                headers=bearer(keys["admin"]),
                json={"channel": "webhook", "target": url, "secret": SECRET},
            )
            assert resp.status_code == 422, (url, resp.text)
            assert resp.json()["fields"][0]["field"] == "target"
            assert reason in resp.json()["message"], url


async def test_loopback_only_when_allowed_and_scopes_are_enforced(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    app = create_app(make_settings(NotifySettings, webhook_allow_loopback=False), resolver=NAMES)
    async with running(app) as (_, client):
        hook = {"channel": "webhook", "target": "http://127.0.0.1:9/hook", "secret": SECRET}
        refused = await client.post("/v1/subscriptions", headers=bearer(keys["admin"]), json=hook)
        assert refused.status_code == 422
        assert "loopback" in refused.json()["message"]
        hook["target"] = "https://hooks.example.org/lastmeter"
        no_secret = await client.post("/v1/subscriptions", headers=bearer(keys["admin"]), json={**hook, "secret": None})
        assert no_secret.status_code == 422
        assert no_secret.json()["fields"][0]["field"] == "secret"
        resident = await resident_token(database_url, prefix, case_id="c-mine")
        cases = [
            (keys["departments"]["water"], {"kind": "department", "code": "power"}),
            (keys["departments"]["water"], {"kind": "street", "code": "wanxing"}),
            (keys["street_offices"]["wanxing"], {"kind": "street", "code": "nanyingmen"}),
            (keys["street_offices"]["wanxing"], {"kind": "all"}),
            (keys["teams"]["veterans"], {"kind": "team", "code": "mediation"}),
        ]
        for key, scope in cases:
            resp = await client.post("/v1/subscriptions", headers=bearer(key), json={**hook, "scope": scope})
            assert resp.status_code == 403, (scope, resp.text)
            assert resp.json()["fields"][0]["field"] == "scope"
        sms = {"channel": "sms", "target": "+8613800000000", "scope": {"kind": "case", "code": "c-someone-else"}}
        other_case = await client.post("/v1/subscriptions", headers=bearer(resident), json=sms)
        assert other_case.status_code == 403, other_case.text
        assert other_case.json()["fields"][0]["field"] == "scope"
        ok = await client.post(
            "/v1/subscriptions",
            headers=bearer(keys["street_offices"]["wanxing"]),
            json={**hook, "scope": {"kind": "street", "code": "wanxing"}, "event_types": ["lastmeter.sla.*"]},
        )
        assert ok.status_code == 201
        bad_type = await client.post(
            "/v1/subscriptions", headers=bearer(keys["admin"]), json={**hook, "event_types": ["lastmeter.nope"]}
        )
        assert bad_type.status_code == 422
        assert bad_type.json()["fields"][0]["field"] == "event_types"
        mine = await client.get("/v1/subscriptions", headers=bearer(keys["street_offices"]["wanxing"]))
        assert [s["id"] for s in mine.json()] == [ok.json()["id"]]
        theirs = await client.get(f"/v1/subscriptions/{ok.json()['id']}", headers=bearer(keys["departments"]["water"]))
        assert theirs.status_code == 404
        gone = await client.delete(
            f"/v1/subscriptions/{ok.json()['id']}", headers=bearer(keys["street_offices"]["wanxing"])
        )
        assert gone.status_code == 204
