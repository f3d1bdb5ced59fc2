"""SSE streams belong to their key: revocation ends them, a key's streams are capped, replays are bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from services.notify.main import create_app
from services.notify.settings import NotifySettings
from services.notify.stream.hub import StreamHub
from shared.session import SESSION_COOKIE
from tests.helpers import bearer, eventually
from tests.integration.test_notify_session import CSRF, new_key, revoke
from tests.integration.test_notify_support import running


async def frames(resp: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """SSE frames as {field: value} (comments and bare retry lines skipped)."""
    frame: dict[str, str] = {}
    async for line in resp.aiter_lines():
        if line == "":
            if frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            frame[name] = value


@asynccontextmanager
async def notify(make_settings: Callable[..., Any], **overrides: Any) -> AsyncIterator[tuple[str, Any]]:
    app = create_app(make_settings(NotifySettings, **overrides))
    async with running(app) as (url, _):
        yield url, app.state.runtime


async def test_a_revoked_keys_open_stream_ends_within_seconds(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    doomed, other = await new_key(database_url, prefix), await new_key(database_url, prefix)
    async with (
        notify(make_settings, sse_key_check_seconds=0.5) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        # One stream by bearer key, one by the dashboard's session cookie; a third key is not touched.
        assert (await client.post("/v1/session", json={"key": doomed}, headers=CSRF)).status_code == 200
        cookie = client.cookies[SESSION_COOKIE]
        client.cookies.clear()
        async with (
            client.stream("GET", "/v1/stream", headers=bearer(doomed)) as by_key,
            client.stream("GET", "/v1/stream", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}) as by_cookie,
            client.stream("GET", "/v1/stream", headers=bearer(other)) as bystander,
        ):
            assert by_key.status_code == by_cookie.status_code == bystander.status_code == 200
            await asyncio.sleep(0.3)
            await revoke(database_url, prefix, doomed)
            revoked_at = time.monotonic()
            for resp in (by_key, by_cookie):
                seen = [f async for f in frames(resp)]  # returns only when the server closes the stream
                assert time.monotonic() - revoked_at < 5
                assert seen[-1]["event"] == "end"
                assert json.loads(seen[-1]["data"])["reason"] == "revoked"
            # The other key's stream stays open: nothing more arrives and it is not closed.
            quiet = frames(bystander)
            assert await asyncio.wait_for(anext(quiet), 2) == {"retry": "2000"}
            try:
                await asyncio.wait_for(anext(quiet), 1.5)
                raise AssertionError("the other key's stream should stay open and quiet")
            except TimeoutError:
                pass
        # Reconnecting with the revoked key is refused (once the key store's few-second cache has passed).

        async def refused() -> bool:
            return (await client.get("/v1/stream", headers=bearer(doomed))).status_code == 401

        assert await eventually(refused, timeout=10, interval=0.5)


async def test_a_stream_opened_by_cookie_ends_within_seconds_of_logout(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    key = await new_key(database_url, prefix)
    async with (
        notify(make_settings, sse_key_check_seconds=0.5) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        assert (await client.post("/v1/session", json={"key": key}, headers=CSRF)).status_code == 200
        cookie = {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}
        client.cookies.clear()
        async with (
            client.stream("GET", "/v1/stream", headers=cookie) as by_cookie,
            client.stream("GET", "/v1/stream", headers=bearer(key)) as by_key,
        ):
            assert by_cookie.status_code == by_key.status_code == 200
            await asyncio.sleep(0.3)
            assert (await client.post("/v1/session/logout", headers={**CSRF, **cookie})).status_code == 204
            logged_out_at = time.monotonic()
            seen = [f async for f in frames(by_cookie)]  # returns only when the server closes the stream
            assert time.monotonic() - logged_out_at < 5
            assert seen[-1]["event"] == "end"
            assert json.loads(seen[-1]["data"])["reason"] == "expired"
            # The key's own bearer stream is not the session's: it stays open.
            quiet = frames(by_key)
            assert await asyncio.wait_for(anext(quiet), 2) == {"retry": "2000"}
            try:
                await asyncio.wait_for(anext(quiet), 1.5)
                raise AssertionError("the bearer stream should stay open and quiet")
            except TimeoutError:
                pass
        assert (await client.get("/v1/stream", headers=cookie)).status_code == 401


async def test_the_key_after_its_cap_of_streams_gets_429(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    key, another = await new_key(database_url, prefix), await new_key(database_url, prefix)
    async with (
        notify(make_settings, sse_max_streams_per_key=3) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        async with (
            client.stream("GET", "/v1/stream", headers=bearer(key)) as s1,
            client.stream("GET", "/v1/stream", headers=bearer(key)) as s2,
            client.stream("GET", "/v1/stream", headers=bearer(key)) as s3,
        ):
            assert [s.status_code for s in (s1, s2, s3)] == [200, 200, 200]
            over = await client.get("/v1/stream", headers=bearer(key))
            assert over.status_code == 429
            assert over.json()["error"] == "too_many_requests"
            assert int(over.headers["retry-after"]) > 0
            # The cap is per key: another key still connects.
            async with client.stream("GET", "/v1/stream", headers=bearer(another)) as fine:
                assert fine.status_code == 200

        # A closed stream frees its place.
        async def reconnects() -> bool:
            async with client.stream("GET", "/v1/stream", headers=bearer(key)) as again:
                return again.status_code == 200

        assert await eventually(reconnects, timeout=10)


async def _fill_stream(database_url: str, prefix: str, rows: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"INSERT INTO {prefix}notify.stream (event_id, case_id, type, street, envelope) "
            "SELECT 'bulk-' || g, 'case-' || g, 'lastmeter.need.submitted', 'wanxing', "
            "jsonb_build_object('subject', 'case-' || g, 'type', 'lastmeter.need.submitted') "
            "FROM generate_series(1, $1) AS g",
            rows,
        )
    finally:
        await conn.close()


async def test_an_old_last_event_id_gets_a_resync_not_the_whole_table(
    make_settings: Callable[..., Any], keys: dict[str, Any], database_url: str, prefix: str
) -> None:
    street = keys["street_offices"]["wanxing"]
    async with (
        notify(make_settings, sse_replay_max_rows=100) as (url, runtime),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        await _fill_stream(database_url, prefix, 3000)
        hub: StreamHub = runtime.extras.hub.get()

        async def caught_up() -> bool:
            return hub.cursor >= 3000

        await eventually(caught_up, timeout=20)
        position = hub.cursor
        async with client.stream("GET", "/v1/stream", headers={**bearer(street), "Last-Event-ID": "0"}) as resp:
            assert resp.status_code == 200
            stream = frames(resp)
            assert (await anext(stream)) == {"retry": "2000"}
            resync = await asyncio.wait_for(anext(stream), 5)
        assert resync["event"] == "resync"
        assert resync["id"] == str(position)  # EventSource resumes from here on reconnect
        assert json.loads(resync["data"])["position"] == position
        # A recent position is still replayed, exactly what was missed.
        headers = {**bearer(street), "Last-Event-ID": str(position - 5)}
        async with client.stream("GET", "/v1/stream", headers=headers) as resp:
            stream = frames(resp)
            await anext(stream)
            replayed = [await asyncio.wait_for(anext(stream), 5) for _ in range(5)]
        assert [int(f["id"]) for f in replayed] == list(range(position - 4, position + 1))
        assert {f["event"] for f in replayed} == {"lastmeter.need.submitted"}
        # A position no stream id can be is refused, naming the header.
        huge = await client.get("/v1/stream", headers={**bearer(street), "Last-Event-ID": "9" * 30})
        assert huge.status_code == 422
        assert huge.json()["fields"][0]["field"] == "Last-Event-ID"
