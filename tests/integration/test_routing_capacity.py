"""Team capacity is enforced by PostgreSQL: two transactions racing for a team's last slot, one wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from services.routing.cases import store
from tests.helpers import eventually


@pytest.fixture
async def conns(database_url: str, prefix: str, keys: dict[str, Any]) -> AsyncIterator[list[asyncpg.Connection]]:
    opened = [
        await asyncpg.connect(
            database_url, server_settings={"search_path": f"{prefix}routing", "application_name": f"{prefix}{i}"}
        )
        for i in range(3)
    ]
    yield opened
    for conn in opened:
        await conn.close()


async def test_two_deciders_cannot_both_take_the_last_slot(conns: list[asyncpg.Connection], prefix: str) -> None:
    a, b, watcher = conns
    tx_a = a.transaction()
    await tx_a.start()
    assert await store.take_team_slot(a, case_id="case-a", team="mediation", capacity=1)

    async def b_takes() -> bool:
        async with b.transaction():
            return await store.take_team_slot(b, case_id="case-b", team="mediation", capacity=1)

    racing = asyncio.create_task(b_takes())

    async def b_waits_on_the_lock() -> bool:
        return bool(
            await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
                f"{prefix}1",
            )
        )

    await eventually(b_waits_on_the_lock)  # B read the count before A committed and now waits for A's row lock
    await tx_a.commit()
    assert await racing is False  # re-checked against A's committed count: the team is full
    assert await store.team_loads(watcher) == {"mediation": 1}


async def test_a_released_slot_can_be_taken_again(conns: list[asyncpg.Connection]) -> None:
    conn = conns[0]
    await conn.execute(
        "INSERT INTO cases (case_id, community, street, status, need, submitted_at, updated_at) "
        "VALUES ('c1', 'chaoyangli', 'nanyingmen', 'routed', '{}', now(), now())"
    )
    async with conn.transaction():
        assert await store.take_team_slot(conn, case_id="c1", team="warm_home", capacity=1)
    assert not await store.take_team_slot(conn, case_id="c2", team="warm_home", capacity=1)
    assert await store.release_team_slot(conn, case_id="c1") == "warm_home"
    assert await store.release_team_slot(conn, case_id="c1") is None  # released once only
    assert await store.team_loads(conn) == {"warm_home": 0}
    assert await store.take_team_slot(conn, case_id="c2", team="warm_home", capacity=1)
    # A reopened case returns to its team even when the team is full.
    assert await store.take_team_slot(conn, case_id="c1", team="warm_home", capacity=1, force=True)
    assert await store.team_loads(conn) == {"warm_home": 2}
