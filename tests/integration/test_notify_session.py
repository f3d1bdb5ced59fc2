"""No key in a URL: the dashboard's session cookie (notify and sla), CSRF, logout, CORS and the page's CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.main import create_app
from services.notify.settings import NotifySettings
from services.sla.main import create_app as create_sla
from services.sla.settings import SlaSettings
from shared.auth import generate_key, hash_key
from shared.session import SESSION_COOKIE
from tests.helpers import bearer, eventually, serving

CSRF = {"X-Lastmeter-CSRF": "1"}
DASHBOARD = "http://127.0.0.1:8004"


async def new_key(database_url: str, prefix: str, *, role: str = "street_office", scope: str | None = "wanxing") -> str:
    """A fresh key of its own, so revoking it touches no other test's key."""
    key = generate_key(role)  # type: ignore[arg-type]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}auth.api_keys (key_hash, name, role, scope) VALUES ($1, 'test key', $2, $3)",
            hash_key(key),
            role,
            scope,
        )
    finally:
        await conn.close()
    return key


async def revoke(database_url: str, prefix: str, key: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"UPDATE {prefix}auth.api_keys SET revoked_at = now() WHERE key_hash = $1", hash_key(key))
    finally:
        await conn.close()


async def log_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/v1/session", json={"key": key}, headers=CSRF)


async def test_keys_in_the_query_string_authenticate_nowhere(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    admin = keys["admin"]
    async with (
        serving(create_app(make_settings(NotifySettings))) as notify,
        serving(create_sla(make_settings(SlaSettings))) as sla,
    ):
        for client, path in ((notify, "/v1/dashboard/config"), (notify, "/v1/stream"), (sla, "/v1/rates")):
            resp = await client.get(path, params={"access_token": admin})
            assert resp.status_code == 401, (path, resp.text)
            assert resp.json()["fields"][0]["field"] == "Authorization"
        # The same key in the header works: the 401 above is the query string's.
        assert (await notify.get("/v1/dashboard/config", headers=bearer(admin))).status_code == 200


async def test_login_sets_an_httponly_strict_cookie_that_works_on_notify_and_sla(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    street = keys["street_offices"]["wanxing"]
    async with (
        serving(create_app(make_settings(NotifySettings))) as notify,
        serving(create_sla(make_settings(SlaSettings))) as sla,
    ):
        bad = await log_in(notify, "lm_street_office_not-a-key")
        assert bad.status_code == 401
        assert bad.json()["fields"][0]["field"] == "key"
        assert SESSION_COOKIE not in bad.cookies
        ok = await log_in(notify, street)
        assert ok.status_code == 200, ok.text
        assert ok.json()["principal"]["role"] == "street_office"
        assert ok.json()["principal"]["scope"] == "wanxing"
        set_cookie = ok.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
        assert {"httponly", "samesite", "path", "max-age"} <= attributes
        assert "samesite=strict" in set_cookie.lower()
        assert "secure" not in attributes  # plain http here; https adds it
        assert street not in set_cookie  # the cookie holds no key
        cookie = notify.cookies[SESSION_COOKIE]
        # The cookie alone opens notify's reads...
        config = await notify.get("/v1/dashboard/config")
        assert config.status_code == 200
        assert config.json()["principal"]["scope"] == "wanxing"
        # ...and sla's, which shares the secret and the key store.
        rates = await sla.get(
            "/v1/rates", params={"dimension": "department"}, headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
        )
        assert rates.status_code == 200, rates.text
        # A forged or altered cookie is refused.
        forged = cookie[:-4] + ("AAAA" if not cookie.endswith("AAAA") else "BBBB")
        resp = await sla.get("/v1/rates", headers={"Cookie": f"{SESSION_COOKIE}={forged}"})
        assert resp.status_code == 401
        assert resp.json()["fields"][0]["field"] == SESSION_COOKIE
        # Behind a TLS-terminating gateway the cookie is Secure.
        behind_tls = await notify.post(
            "/v1/session", json={"key": street}, headers={**CSRF, "X-Forwarded-Proto": "https"}
        )
        assert "secure" in {part.strip().lower() for part in behind_tls.headers["set-cookie"].split(";")}


async def test_cookie_writes_need_the_csrf_header_and_logout_ends_the_session(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    async with serving(create_app(make_settings(NotifySettings))) as notify:
        # Logging in itself needs the header (a cross-site form cannot send it).
        refused = await notify.post("/v1/session", json={"key": keys["admin"]})
        assert refused.status_code == 403
        assert (await log_in(notify, keys["admin"])).status_code == 200
        gone = "/v1/subscriptions/00000000-0000-0000-0000-000000000000"
        without = await notify.delete(gone)
        assert without.status_code == 403, without.text
        assert without.json()["fields"][0]["field"] == "X-Lastmeter-CSRF"
        with_header = await notify.delete(gone, headers=CSRF)
        assert with_header.status_code == 404, with_header.text  # past the CSRF check: the route answers
        # A bearer key needs no such header: a browser never sends one on its own.
        assert (await notify.delete(gone, headers=bearer(keys["admin"]))).status_code == 404
        out = await notify.post("/v1/session/logout", headers=CSRF)
        assert out.status_code == 204
        assert SESSION_COOKIE in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
        assert SESSION_COOKIE not in notify.cookies
        assert (await notify.get("/v1/dashboard/config")).status_code == 401


async def test_after_logout_the_old_cookie_is_refused_on_notify_and_sla(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    key = await new_key(database_url, prefix)
    async with (
        serving(create_app(make_settings(NotifySettings))) as notify,
        serving(create_sla(make_settings(SlaSettings))) as sla,
    ):
        assert (await log_in(notify, key)).status_code == 200
        copied = {"Cookie": f"{SESSION_COOKIE}={notify.cookies[SESSION_COOKIE]}"}
        notify.cookies.clear()
        assert (await notify.get("/v1/dashboard/config", headers=copied)).status_code == 200
        assert (await sla.get("/v1/rates", params={"dimension": "department"}, headers=copied)).status_code == 200
        # Another login of the same key is a session of its own: this logout does not end it.
        assert (await log_in(notify, key)).status_code == 200
        other = {"Cookie": f"{SESSION_COOKIE}={notify.cookies[SESSION_COOKIE]}"}
        notify.cookies.clear()
        assert (await notify.post("/v1/session/logout", headers={**CSRF, **copied})).status_code == 204

        async def replay_refused() -> bool:
            on_notify = await notify.get("/v1/dashboard/config", headers=copied)
            on_sla = await sla.get("/v1/rates", params={"dimension": "department"}, headers=copied)
            return on_notify.status_code == on_sla.status_code == 401

        # The logging-out process refuses it at once; the others within their key store's 2 s cache.
        assert (await notify.get("/v1/dashboard/config", headers=copied)).status_code == 401
        assert await eventually(replay_refused, timeout=5, interval=0.25)
        refused = await sla.get("/v1/rates", params={"dimension": "department"}, headers=copied)
        assert refused.json()["fields"][0]["field"] == SESSION_COOKIE
        assert (await notify.get("/v1/dashboard/config", headers=other)).status_code == 200
        assert (await notify.get("/v1/dashboard/config", headers=bearer(key))).status_code == 200  # the key lives


async def test_a_login_deletes_session_rows_a_day_past_their_expiry(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}auth.sessions (session_hash, key_id, expires_at) VALUES"
            " ('old', 'k', now() - interval '25 hours'), ('recent', 'k', now() - interval '1 hour')"
        )
        async with serving(create_app(make_settings(NotifySettings))) as notify:
            assert (await log_in(notify, keys["admin"])).status_code == 200
        left = {r["session_hash"] for r in await conn.fetch(f"SELECT session_hash FROM {prefix}auth.sessions")}
        assert "old" not in left
        assert "recent" in left
    finally:
        await conn.close()


async def test_after_logout_the_residents_page_cookie_is_refused(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    key = await new_key(database_url, prefix, role="grid_worker", scope=None)
    missing = "/v1/cases/CASE-00000000-0000"
    async with serving(create_intake(make_settings(IntakeSettings))) as intake:
        opened = await intake.post("/v1/session/resident", json={"credential": key}, headers=CSRF)
        assert opened.status_code == 200, opened.text
        copied = {"Cookie": f"{SESSION_COOKIE}={intake.cookies[SESSION_COOKIE]}"}
        intake.cookies.clear()
        assert (await intake.get(missing, headers=copied)).status_code == 404  # signed in: the case is unknown
        out = await intake.post("/v1/session/resident/logout", headers={**CSRF, **copied})
        assert out.status_code == 204
        assert "max-age=0" in out.headers["set-cookie"].lower()
        refused = await intake.get(missing, headers=copied)
        assert refused.status_code == 401
        assert refused.json()["fields"][0]["field"] == SESSION_COOKIE


async def test_a_revoked_key_ends_its_sessions(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    key = await new_key(database_url, prefix)
    async with serving(create_app(make_settings(NotifySettings))) as notify:
        assert (await log_in(notify, key)).status_code == 200
        assert (await notify.get("/v1/dashboard/config")).status_code == 200
        await revoke(database_url, prefix, key)

        async def refused() -> bool:
            return (await notify.get("/v1/dashboard/config")).status_code == 401

        # The key store caches a credential for at most a few seconds.
        assert await eventually(refused, timeout=10, interval=0.5)


async def test_cors_names_the_dashboard_origin_with_credentials_never_any_origin(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    async with serving(create_sla(make_settings(SlaSettings, cors_origins=[DASHBOARD]))) as sla:
        preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-lastmeter-csrf"}
        ours = await sla.options("/v1/rates", headers={"Origin": DASHBOARD, **preflight})
        assert ours.status_code == 200
        assert ours.headers["access-control-allow-origin"] == DASHBOARD
        assert ours.headers["access-control-allow-credentials"] == "true"
        theirs = await sla.options("/v1/rates", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in theirs.headers
    # "*" is allowed only without credentials, so no other site can read with the cookie.
    async with serving(create_sla(make_settings(SlaSettings, cors_origins=["*"]))) as sla:
        resp = await sla.get(
            "/v1/rates", headers={"Origin": "https://evil.example", "Cookie": f"{SESSION_COOKIE}=s1.x.y"}
        )
        assert resp.headers.get("access-control-allow-credentials") != "true"


async def test_dashboard_files_carry_a_strict_content_security_policy(
    make_settings: Callable[..., Any], keys: dict[str, Any]
) -> None:
    settings = make_settings(NotifySettings, dashboard_sla_url="https://sla.example.org:8443/")
    async with serving(create_app(settings)) as notify:
        for path in ("/dashboard", "/dashboard/app.js", "/dashboard/i18n.js", "/dashboard/style.css"):
            resp = await notify.get(path)
            assert resp.status_code == 200, path
            directives = [d.strip().split(" ", 1) for d in resp.headers["content-security-policy"].split(";")]
            policy = {d[0]: d[1] if len(d) > 1 else "" for d in directives}
            assert policy["default-src"] == "'none'"
            assert policy["script-src"] == "'self'"  # no inline script, no other origin
            assert policy["connect-src"] == "'self' https://sla.example.org:8443"
            assert policy["frame-ancestors"] == "'none'"
            assert policy["base-uri"] == "'none'"
            assert policy["object-src"] == "'none'"
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["referrer-policy"] == "no-referrer"
        # The page names its service URLs only through the config, from notify's settings.
        config = await notify.get("/v1/dashboard/config", headers=bearer(keys["admin"]))
        assert config.json()["sla_url"] == "https://sla.example.org:8443"
