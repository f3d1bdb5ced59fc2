"""Webhooks in front of the public: staff only, pinned to checked addresses, no redirects, no answers kept,
owned by their key (revocation stops them), a quota per key. Real receivers, broker and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.clock import ManualClock
from tests.helpers import bearer, eventually
from tests.integration.notify_sub_helpers import (
    PUBLIC,
    ScriptedResolver,
    code_in,
    new_key,
    resident_token,
    revoke,
)
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
SUBMITTED = ["lastmeter.need.submitted"]


def _hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"channel": "webhook", "target": url, "secret": SECRET, **extra}


async def _attempts(app: Any, subscription_id: str) -> list[dict[str, Any]] | None:
    rows = await app.state.runtime.pool.fetch(
        "SELECT a.outcome, a.status_code, a.error, d.status, d.id FROM delivery_attempts a "
        "JOIN deliveries d ON d.id = a.delivery_id WHERE d.subscription_id = $1 ORDER BY a.id",
        subscription_id,
    )
    return [dict(r) for r in rows] or None


async def test_residents_get_no_webhooks_each_key_sees_its_own_and_a_quota_holds(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    names = ScriptedResolver({"hooks.example.org": [[PUBLIC]]})
    app = create_app(make_settings(NotifySettings, subscriptions_per_key=2), resolver=names)
    case_id = new_case()
    token = await resident_token(database_url, prefix, case_id=case_id)
    street = bearer(keys["street_offices"]["wanxing"])
    async with running(app) as (_, client):
        refused = await client.post(
            "/v1/subscriptions", headers=bearer(token), json=_hook("https://hooks.example.org/in")
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["fields"][0]["field"] == "channel"
        # Free text is cleaned like everywhere: a control character is refused naming the field.
        nul = await client.post(
            "/v1/subscriptions", headers=street, json=_hook("https://hooks.example.org/x", description="a\x00b")
        )
        assert nul.status_code == 422
        assert nul.json()["fields"][0]["field"] == "description"
        # Two of the street office's subscriptions fit its quota, a third answers 429 naming the limit.
        made = []
        for n in range(2):
            resp = await client.post("/v1/subscriptions", headers=street, json=_hook(f"https://hooks.example.org/{n}"))
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["id"])
        over = await client.post("/v1/subscriptions", headers=street, json=_hook("https://hooks.example.org/3"))
        assert over.status_code == 429, over.text
        assert int(over.headers["retry-after"]) >= 1
        assert "LASTMETER_SUBSCRIPTIONS_PER_KEY" in over.json()["message"]
        assert "limit of 2" in over.json()["message"]
        # A second key of the same street office owns nothing of the first's, and has its own quota.
        twin = bearer(await new_key(database_url, prefix, role="street_office", scope="wanxing"))
        assert (await client.get("/v1/subscriptions", headers=twin)).json() == []
        assert (await client.get(f"/v1/subscriptions/{made[0]}", headers=twin)).status_code == 404
        assert (await client.delete(f"/v1/subscriptions/{made[0]}", headers=twin)).status_code == 404
        theirs = await client.post("/v1/subscriptions", headers=twin, json=_hook("https://hooks.example.org/t"))
        assert theirs.status_code == 201
        mine = await client.get("/v1/subscriptions", headers=street)
        assert [s["id"] for s in mine.json()] == made
        everyone = await client.get("/v1/subscriptions", headers=bearer(keys["admin"]))
        assert {s["id"] for s in everyone.json()} == {*made, theirs.json()["id"]}
        # Deleting one frees a place.
        assert (await client.delete(f"/v1/subscriptions/{made[0]}", headers=street)).status_code == 204
        again = await client.post("/v1/subscriptions", headers=street, json=_hook("https://hooks.example.org/3"))
        assert again.status_code == 201


async def test_pinned_connection_no_redirects_and_no_answer_kept(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    chatty = await Receiver(body_bytes=4096).start()  # answers with a body the owner must never see
    trap = await Receiver().start()  # where a followed redirect would land
    redirecting = await Receiver(status=302, headers={"Location": trap.url}).start()
    # hooks.test exists only in this resolver: a request reaching the receiver went to the pinned address.
    names = ScriptedResolver({"hooks.test": [["127.0.0.1"]]})
    settings = make_settings(NotifySettings, webhook_allow_loopback=True, delivery_retry_base_seconds=60)
    app = create_app(settings, resolver=names)
    street = bearer(keys["street_offices"]["wanxing"])
    case_id = new_case()
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            pinned = await client.post(
                "/v1/subscriptions",
                headers=street,
                json=_hook(f"http://hooks.test:{chatty.port}/hook", event_types=SUBMITTED),
            )
            assert pinned.status_code == 201, pinned.text
            moved = await client.post(
                "/v1/subscriptions", headers=street, json=_hook(redirecting.url, event_types=SUBMITTED)
            )
            assert moved.status_code == 201, moved.text
            await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            await eventually(lambda: _now(len(chatty.requests) >= 1))
            got = chatty.requests[0]
            assert got.headers["host"] == f"hooks.test:{chatty.port}"  # the name in Host, the address pinned
            # The receiver answered with a body; its owner sees status and timing, never the body.
            delivered = await eventually(lambda: _attempts(app, pinned.json()["id"]))
            detail = await client.get(f"/v1/deliveries/{delivered[0]['id']}", headers=street)
            assert detail.status_code == 200
            assert "xxxx" not in detail.text
            attempt = detail.json()["attempt_log"][0]
            assert set(attempt) == {"attempt", "started_at", "duration_ms", "outcome", "status_code", "error"}
            assert (attempt["outcome"], attempt["status_code"]) == ("delivered", 200)
            columns = await app.state.runtime.pool.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'delivery_attempts'"
            )
            assert "response_excerpt" not in {c["column_name"] for c in columns}
            # The 302 is a failed attempt, recorded as such; nothing reaches where it pointed.
            [redirect] = await eventually(lambda: _attempts(app, moved.json()["id"]))
            assert (redirect["outcome"], redirect["status_code"], redirect["status"]) == ("http_error", 302, "retrying")
            assert "redirects are not followed" in redirect["error"]
            await asyncio.sleep(1.0)
            assert len(redirecting.requests) == 1
            assert trap.requests == []
    finally:
        for r in (chatty, trap, redirecting):
            await r.stop()


async def test_dns_rebinding_to_loopback_is_refused_at_delivery(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str
) -> None:
    receiver = await Receiver().start()  # listens on 127.0.0.1, where the rebinding name will point
    # A public address when the subscription is checked, loopback from then on.
    names = ScriptedResolver({"rebind.hooks.test": [[PUBLIC], ["127.0.0.1"]]})
    app = create_app(make_settings(NotifySettings), resolver=names)  # loopback not allowed
    street = bearer(keys["street_offices"]["wanxing"])
    case_id = new_case()
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            url = f"http://rebind.hooks.test:{receiver.port}/hook"
            sub = await client.post("/v1/subscriptions", headers=street, json=_hook(url, event_types=SUBMITTED))
            assert sub.status_code == 201, sub.text
            await publish(p, f"{prefix}intake.events", submitted(case_id), case_id=case_id, at=T0)
            [attempt] = await eventually(lambda: _attempts(app, sub.json()["id"]))
            assert (attempt["outcome"], attempt["status"]) == ("refused", "failed")
            assert "loopback" in attempt["error"]
            assert receiver.requests == []
            assert names.asked == ["rebind.hooks.test", "rebind.hooks.test"]  # once to subscribe, once to send
    finally:
        await receiver.stop()


async def test_a_revoked_keys_webhook_stops_receiving(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str, database_url: str
) -> None:
    receiver = await Receiver().start()
    settings = make_settings(NotifySettings, webhook_allow_loopback=True, subscription_owner_check_seconds=0.5)
    app = create_app(settings)
    key = await new_key(database_url, prefix, role="department", scope="urban_mgmt")
    first, second = new_case(), new_case()
    try:
        async with running(app) as (_, client), producer(kafka_bootstrap) as p:
            only = {"event_types": ["lastmeter.case.routed"]}
            sub = await client.post("/v1/subscriptions", headers=bearer(key), json=_hook(receiver.url, **only))
            assert sub.status_code == 201, sub.text
            await publish(p, f"{prefix}intake.events", submitted(first), case_id=first, at=T0)
            await publish(p, f"{prefix}routing.events", routed(first, to=dept("urban_mgmt")), case_id=first, at=T0)
            await eventually(lambda: _now(len(receiver.requests) == 1))
            await revoke(database_url, prefix, key)

            async def stopped() -> Any:
                return await app.state.runtime.pool.fetchrow(
                    "SELECT active, inactive_reason FROM subscriptions WHERE id = $1 AND NOT active", sub.json()["id"]
                )

            row = await eventually(stopped, timeout=5)  # within seconds of the revocation
            assert "revoked" in row["inactive_reason"]
            await publish(p, f"{prefix}intake.events", submitted(second), case_id=second, at=T0)
            await publish(p, f"{prefix}routing.events", routed(second, to=dept("urban_mgmt")), case_id=second, at=T0)
            await asyncio.sleep(2.0)  # time enough for a wrong delivery to arrive
            assert len(receiver.requests) == 1
            listed = await client.get("/v1/subscriptions", headers=bearer(keys["admin"]))
            assert sub.json()["id"] not in {s["id"] for s in listed.json()}
    finally:
        await receiver.stop()


async def _now(value: Any) -> Any:
    return value


async def test_confirmation_codes_are_bounded_resent_and_rate_limited_per_target(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    clock = ManualClock(T0)
    app = create_app(
        make_settings(NotifySettings, confirm_max_attempts=2, confirm_codes_per_target_per_hour=2), clock=clock
    )
    street = bearer(keys["street_offices"]["wanxing"])
    phone = {"channel": "sms", "target": "+86 138-0000-0001"}

    async def texts() -> list[str]:
        rows = await app.state.runtime.pool.fetch(
            "SELECT body FROM sms_messages WHERE phone = $1 ORDER BY id", "+8613800000001"
        )
        return [r["body"] for r in rows]

    async with running(app) as (_, client):
        sub = (await client.post("/v1/subscriptions", headers=street, json=phone)).json()
        [first] = await texts()
        code = code_in(first)
        wrong = "000000" if code != "000000" else "111111"
        confirm = f"/v1/subscriptions/{sub['id']}/confirm"
        assert (await client.post(confirm, headers=street, json={"code": wrong})).status_code == 422
        assert (await client.post(confirm, headers=street, json={"code": wrong})).status_code == 422
        spent = await client.post(confirm, headers=street, json={"code": code})  # the right one, too late
        assert spent.status_code == 429
        assert int(spent.headers["retry-after"]) >= 1
        # A new code only after a minute; then the old one is dead and the new one works.
        resend = f"/v1/subscriptions/{sub['id']}/resend"
        early = await client.post(resend, headers=street)
        assert early.status_code == 429
        assert int(early.headers["retry-after"]) >= 1
        clock.advance(timedelta(seconds=61))
        assert (await client.post(resend, headers=street)).status_code == 202
        second = code_in((await texts())[-1])
        if second != code:
            assert (await client.post(confirm, headers=street, json={"code": code})).status_code == 422
        done = await client.post(confirm, headers=street, json={"code": second})
        assert done.status_code == 200, done.text
        assert done.json()["confirmed"] is True
        assert (await client.post(resend, headers=street)).status_code == 409
        # Two codes reached this phone within the hour: a stranger cannot flood it with more.
        flood = await client.post("/v1/subscriptions", headers=street, json=phone)
        assert flood.status_code == 429, flood.text
        assert "LASTMETER_CONFIRM_CODES_PER_TARGET_PER_HOUR" in flood.json()["message"]
        assert len(await texts()) == 2
        # Codes expire.
        other = (
            await client.post("/v1/subscriptions", headers=street, json={**phone, "target": "+8613800000002"})
        ).json()
        clock.advance(timedelta(minutes=16))
        late = await client.post(f"/v1/subscriptions/{other['id']}/confirm", headers=street, json={"code": "123456"})
        assert late.status_code == 409
        stored = await app.state.runtime.pool.fetchval(
            "SELECT confirm_code_hash FROM subscriptions WHERE id = $1", sub["id"]
        )
        assert stored is None  # forgotten once confirmed
