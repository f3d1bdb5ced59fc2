"""Residents' access tokens and API keys on real PostgreSQL and the real broker.

Every report gets its own random token (a linked duplicate included) that opens only that
reporter's view; only a case's own reporters answer its callback, each once per round; tokens and
keys are revocable and expire; the old HMAC-of-the-case-id token opens nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from shared.auth import RESIDENT_TOKEN_PREFIX, generate_key, hash_key, insert_key
from shared.catalogue import Catalogue
from shared.clock import ManualClock
from shared.events.routing import CaseClosed, CaseReopened, CaseResolved
from shared.keys_admin import revoke
from shared.service import ServiceRuntime
from shared.settings import REPO_ROOT
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS
from tests.conftest import TEST_TOKEN_SECRET
from tests.helpers import bearer, eventually, read_topic
from tests.integration.test_intake_needs import running_intake
from tests.integration.test_intake_status import WATER, _produce, _routed

CLOCK = ManualClock(datetime.now(UTC))
SATISFIED = {"solved": True, "satisfaction": "satisfied"}
UNHAPPY = {"solved": False, "satisfaction": "dissatisfied", "comment": "还是没修好, 我家3楼"}


@dataclass
class World:
    """One intake app under a fresh prefix, with what the tests reach past its HTTP API."""

    client: httpx.AsyncClient
    keys: dict[str, Any]
    prefix: str
    dsn: str
    bootstrap: str

    @property
    def runtime(self) -> ServiceRuntime:
        return self.client._transport.app.state.runtime  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
async def stack(kafka_bootstrap: str, database_url: str, catalogue: Catalogue) -> AsyncIterator[World]:
    async with running_intake(kafka_bootstrap, database_url, catalogue, clock=CLOCK) as running:
        yield World(running.client, running.keys, running.prefix, database_url, kafka_bootstrap)


def _need(address: str, **extra: Any) -> dict[str, Any]:
    """A water outage at one address: the same address in the same community is the same case."""
    return {"category": "water_outage", "description": "停水了", "community": "huazhangli", "address": address, **extra}


async def _submit(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/needs", json=body)
    assert resp.status_code in (200, 202), resp.text
    return resp.json()


async def _view(client: httpx.AsyncClient, case_id: str, token: str) -> httpx.Response:
    return await client.get(f"/v1/cases/{case_id}", headers=bearer(token))


async def _resolve(stack: World, case_id: str, *, at: datetime, round_: int = 1) -> None:
    await _produce(
        stack.bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [
            (case_id, _routed(case_id, at)),
            (case_id, CaseResolved(case_id=case_id, assignee=WATER, note="已修复", round=round_, resolved_at=at)),
        ],
    )

    async def resolved() -> bool:
        return (await _view(stack.client, case_id, stack.keys["admin"])).json()["status"] == "resolved"

    await eventually(resolved, timeout=20)


async def test_identical_anonymous_reports_get_their_own_tokens(stack: World) -> None:
    body = _need("华章里12号楼3门", reporter={"name": "王奶奶", "phone": "13900000001"})
    first, second = await _submit(stack.client, body), await _submit(stack.client, body)
    assert second["linked"] is True
    assert second["case_id"] == first["case_id"]
    assert first["access_token"] != second["access_token"]
    for token in (first["access_token"], second["access_token"]):
        assert token.startswith(RESIDENT_TOKEN_PREFIX)
        assert "." not in token  # random, not `body.signature`
        assert (await _view(stack.client, first["case_id"], token)).status_code == 200
    # Only hashes are stored, one row per submission.
    conn = await asyncpg.connect(stack.dsn)
    try:
        rows = await conn.fetch(
            f"SELECT token_hash, submission_id FROM {stack.prefix}auth.resident_tokens WHERE case_id = $1",
            first["case_id"],
        )
    finally:
        await conn.close()
    assert {r["token_hash"] for r in rows} == {hash_key(first["access_token"]), hash_key(second["access_token"])}
    assert len({r["submission_id"] for r in rows}) == 2


async def test_a_linked_reporter_sees_their_own_report_never_the_first(stack: World) -> None:
    first = await _submit(
        stack.client,
        _need("华章里14号楼", description="我家14号楼2单元501停水, 老伴卧床", reporter={"phone": "13900000002"}),
    )
    second = await _submit(
        stack.client,
        _need("华章里14号楼", description="楼里没水了", reporter={"name": "小李", "email": "li@example.org"}),
    )
    assert second["linked"] is True
    case_id = first["case_id"]
    mine = (await _view(stack.client, case_id, second["access_token"])).json()
    assert mine["description"] == "楼里没水了"
    assert mine["contact"] == {"name": "小李", "email": "li@example.org"}
    assert mine["reporter_count"] == 2
    assert mine["vulnerable"] is False
    text = orjson.dumps(mine).decode()
    assert "老伴卧床" not in text
    assert "13900000002" not in text
    theirs = (await _view(stack.client, case_id, first["access_token"])).json()
    assert theirs["description"] == "我家14号楼2单元501停水, 老伴卧床"
    assert theirs["contact"] == {"phone": "13900000002"}
    assert "小李" not in orjson.dumps(theirs).decode()
    staff = (await _view(stack.client, case_id, stack.keys["street_offices"]["wanxing"])).json()
    assert staff["description"] == "我家14号楼2单元501停水, 老伴卧床"
    assert staff["contact"] == {"phone": "13900000002"}


async def test_a_token_opens_only_its_own_case(stack: World) -> None:
    one = await _submit(stack.client, _need("华章里20号楼"))
    other = await _submit(stack.client, _need("华章里22号楼"))
    assert one["case_id"] != other["case_id"]
    assert (await _view(stack.client, other["case_id"], one["access_token"])).status_code == 403
    answer = await stack.client.post(
        f"/v1/cases/{other['case_id']}/feedback", json=SATISFIED, headers=bearer(one["access_token"])
    )
    assert answer.status_code == 403


async def test_the_old_hmac_token_opens_nothing(stack: World) -> None:
    case_id = (await _submit(stack.client, _need("华章里24号楼")))["case_id"]
    for secret in (TEST_TOKEN_SECRET, "dev-only-not-secret"):
        body = base64.urlsafe_b64encode(case_id.encode()).decode().rstrip("=")
        old = f"rt_{body}.{hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]}"
        refused = await _view(stack.client, case_id, old)
        assert refused.status_code == 401
        assert refused.json()["fields"][0]["field"] == "Authorization"


async def _feedback_events(stack: World, case_id: str) -> list[tuple[int, str]]:
    """(round, satisfaction) of every FeedbackReceived published for the case, once the relay is quiet."""
    records = await read_topic(
        stack.bootstrap,
        f"{stack.prefix}{INTAKE_EVENTS}",
        until=lambda recs: any(b"feedback_received" in (r.value or b"") and case_id.encode() in r.value for r in recs),
    )
    await asyncio.sleep(0.5)  # had a second one been queued, the relay would have sent it by now
    records = await read_topic(
        stack.bootstrap, f"{stack.prefix}{INTAKE_EVENTS}", until=lambda recs: len(recs) >= len(records)
    )
    sent = [orjson.loads(r.value)["data"] for r in records if b"feedback_received" in (r.value or b"")]
    return [(f["round"], f["satisfaction"]) for f in sent if f["case_id"] == case_id]


async def test_each_reporter_answers_each_round_once_and_a_linked_reporter_cannot_close(stack: World) -> None:
    first = await _submit(stack.client, _need("华章里30号楼", description="30号楼停水"))
    second = await _submit(stack.client, _need("华章里30号楼", description="30号楼也停水"))
    case_id = first["case_id"]
    await _resolve(stack, case_id, at=CLOCK.now() + timedelta(minutes=1))
    # A linked reporter (anyone can file a near-duplicate) answers "satisfied" first: kept, not counted.
    theirs = await stack.client.post(
        f"/v1/cases/{case_id}/feedback", json=SATISFIED, headers=bearer(second["access_token"])
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json() == {"case_id": case_id, "round": 1, "reopen": False, "counted": False}
    again = await stack.client.post(
        f"/v1/cases/{case_id}/feedback", json=UNHAPPY, headers=bearer(second["access_token"])
    )
    assert again.status_code == 409
    assert "round 1" in again.json()["message"]
    # The case is still waiting for its own reporter, whose answer is the round's.
    view = (await _view(stack.client, case_id, first["access_token"])).json()
    assert view["status"] == "resolved"
    assert view["feedback_round"] == 1
    assert view["feedback"] == []
    mine = await stack.client.post(f"/v1/cases/{case_id}/feedback", json=UNHAPPY, headers=bearer(first["access_token"]))
    assert mine.status_code == 201, mine.text
    assert mine.json() == {"case_id": case_id, "round": 1, "reopen": True, "counted": True}
    # Each reporter sees only their own answer; staff see both.
    own = (await _view(stack.client, case_id, second["access_token"])).json()
    assert [(f["satisfaction"], f["counted"]) for f in own["feedback"]] == [("satisfied", False)]
    assert "还是没修好" not in orjson.dumps(own).decode()
    staff = (await _view(stack.client, case_id, stack.keys["street_offices"]["wanxing"])).json()
    assert sorted((f["satisfaction"], f["counted"]) for f in staff["feedback"]) == [
        ("dissatisfied", True),
        ("satisfied", False),
    ]
    # One FeedbackReceived for the round, the opening reporter's: routing and the rates see the case once.
    assert await _feedback_events(stack, case_id) == [(1, "dissatisfied")]


async def test_a_linked_reporters_complaint_reopens_the_case(stack: World) -> None:
    first = await _submit(stack.client, _need("华章里32号楼", description="32号楼停水"))
    second = await _submit(stack.client, _need("华章里32号楼", description="32号楼还是没水"))
    case_id = first["case_id"]
    await _resolve(stack, case_id, at=CLOCK.now() + timedelta(minutes=1))
    theirs = await stack.client.post(
        f"/v1/cases/{case_id}/feedback", json=UNHAPPY, headers=bearer(second["access_token"])
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json() == {"case_id": case_id, "round": 1, "reopen": True, "counted": True}
    assert await _feedback_events(stack, case_id) == [(1, "dissatisfied")]


async def test_a_revoked_key_or_token_is_refused_within_seconds(stack: World) -> None:
    key = generate_key("street_office")
    conn = await asyncpg.connect(stack.dsn)
    try:
        await insert_key(
            conn, auth_schema=f"{stack.prefix}auth", key=key, name="temp", role="street_office", scope="wanxing"
        )
        report = await _submit(stack.client, _need("华章里40号楼"))
        case_id = report["case_id"]
        assert (await _view(stack.client, case_id, key)).status_code == 200
        assert (await _view(stack.client, case_id, report["access_token"])).status_code == 200  # now cached
        print(await revoke(conn, auth_schema=f"{stack.prefix}auth", id_or_prefix=hash_key(key)[:10]))
        print(await revoke(conn, auth_schema=f"{stack.prefix}auth", id_or_prefix=report["access_token"]))
    finally:
        await conn.close()
    started = asyncio.get_running_loop().time()

    async def refused() -> bool:
        key_status = (await _view(stack.client, case_id, key)).status_code
        token_status = (await _view(stack.client, case_id, report["access_token"])).status_code
        return key_status == token_status == 401

    await eventually(refused, timeout=5.0, interval=0.2)
    assert asyncio.get_running_loop().time() - started <= 5.0
    keys = stack.runtime.keys
    assert await keys.principal_for_key_id(hash_key(key)) is None
    assert await keys.active_key_ids([hash_key(key), hash_key(report["access_token"])]) == set()


async def test_an_expired_key_is_refused(stack: World) -> None:
    fresh, stale = generate_key("admin"), generate_key("admin")
    conn = await asyncpg.connect(stack.dsn)
    try:
        schema = f"{stack.prefix}auth"
        await insert_key(
            conn,
            auth_schema=schema,
            key=fresh,
            name="f",
            role="admin",
            scope=None,
            expires_at=CLOCK.now() + timedelta(days=1),
        )
        await insert_key(
            conn,
            auth_schema=schema,
            key=stale,
            name="s",
            role="admin",
            scope=None,
            expires_at=CLOCK.now() - timedelta(seconds=1),
        )
    finally:
        await conn.close()
    case_id = (await _submit(stack.client, _need("华章里42号楼")))["case_id"]
    assert (await _view(stack.client, case_id, fresh)).status_code == 200
    assert (await _view(stack.client, case_id, stale)).status_code == 401
    keys = stack.runtime.keys
    assert (await keys.principal_for_key_id(hash_key(fresh))).role == "admin"
    assert await keys.principal_for_key_id(hash_key(stale)) is None
    assert await keys.active_key_ids([hash_key(fresh), hash_key(stale)]) == {hash_key(fresh)}


async def test_a_closed_cases_tokens_expire_and_a_reopen_revives_them(stack: World) -> None:
    report = await _submit(stack.client, _need("华章里50号楼"))
    case_id, token = report["case_id"], report["access_token"]
    t0 = CLOCK.now() + timedelta(minutes=1)
    await _resolve(stack, case_id, at=t0)
    closed_at = t0 + timedelta(hours=1)
    await _produce(
        stack.bootstrap,
        f"{stack.prefix}{ROUTING_EVENTS}",
        [(case_id, CaseClosed(case_id=case_id, assignee=WATER, solved=True, closed_at=closed_at))],
    )

    async def expiry() -> datetime | None:
        return await stack.runtime.pool.fetchval(
            f"SELECT expires_at FROM {stack.prefix}auth.resident_tokens WHERE token_hash = $1", hash_key(token)
        )

    assert await eventually(expiry, timeout=20) == closed_at + timedelta(days=30)
    keys = stack.runtime.keys
    start = CLOCK.now()
    try:
        CLOCK.set(closed_at + timedelta(days=29))
        assert (await _view(stack.client, case_id, token)).status_code == 200  # still within the 30 days
        CLOCK.set(closed_at + timedelta(days=30, seconds=1))
        assert (await _view(stack.client, case_id, token)).status_code == 401  # the cache does not outlive expiry
        assert await keys.active_key_ids([hash_key(token)]) == set()
        # A reopen (by a newer event) clears the expiry: the resident follows the case again.
        reopened = CaseReopened(
            case_id=case_id, assignee=WATER, round=2, reason="dissatisfied", reopened_at=closed_at + timedelta(days=31)
        )
        await _produce(stack.bootstrap, f"{stack.prefix}{ROUTING_EVENTS}", [(case_id, reopened)])

        async def revived() -> bool:
            return await expiry() is None

        await eventually(revived, timeout=20)

        async def opens() -> bool:  # once the refusal cached a moment ago runs out
            return (await _view(stack.client, case_id, token)).status_code == 200

        await eventually(opens, timeout=5.0, interval=0.2)
    finally:
        CLOCK.set(start)


async def _cli(stack: World, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.dsn,
        "LASTMETER_SCHEMA_PREFIX": stack.prefix,
        "LASTMETER_HOME": str(REPO_ROOT / "tests" / "artifacts" / f"cli-{uuid.uuid4().hex[:8]}"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", *args, env=env, cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def test_keys_cli_lists_without_keys_creates_with_expiry_and_revokes_by_prefix(stack: World) -> None:
    report = await _submit(stack.client, _need("华章里60号楼"))
    code, created, _ = await _cli(stack, "keys", "--role", "department", "--scope", "water", "--expires", "90d")
    assert code == 0
    key = created.strip()
    assert key.startswith("lm_department_")
    code, listing, _ = await _cli(stack, "keys", "list", "--residents")
    assert code == 0
    secrets_in_play = [key, report["access_token"], stack.keys["admin"], *stack.keys["departments"].values()]
    assert not any(s in listing for s in secrets_in_play)
    assert listing.splitlines()[0].split() == ["id", "kind", "name", "role", "scope", "created", "expires", "revoked"]
    ours = next(line for line in listing.splitlines() if line.startswith(hash_key(key)[:12]))
    assert "department" in ours
    assert "water" in ours
    assert (datetime.now(UTC) + timedelta(days=90)).strftime("%Y-%m-%d") in ours
    assert any(line.startswith(hash_key(report["access_token"])[:12]) for line in listing.splitlines())
    # A prefix too short or not hex is refused with a reason; a unique one revokes.
    code, _, err = await _cli(stack, "keys", "revoke", "abc")
    assert code == 2
    assert "at least 6 hex characters" in err
    code, _, err = await _cli(stack, "keys", "revoke", "ffffffffffffff")
    assert code == 2
    assert "no API key or resident token" in err
    code, out, _ = await _cli(stack, "keys", "revoke", hash_key(key)[:12])
    assert code == 0
    assert out.startswith("revoked api_key")
    code, out, _ = await _cli(stack, "keys", "revoke", hash_key(report["access_token"])[:12])
    assert code == 0
    assert out.startswith("revoked resident_token")
    code, listing, _ = await _cli(stack, "keys", "list", "--case", report["case_id"])
    [line] = [x for x in listing.splitlines()[1:] if x.strip()]
    assert line.startswith(hash_key(report["access_token"])[:12])
    assert line.split()[-1] != "-"  # revoked column filled

    async def refused() -> bool:
        return (await _view(stack.client, report["case_id"], report["access_token"])).status_code == 401

    await eventually(refused, timeout=5.0, interval=0.2)
