"""Three routing processes in one consumer group, a stream of needs, one process stopped midway.

Every need must be routed exactly once in effect (one decision, one distinct `case routed` event)
and no team may hold more open cases than its capacity, although the processes decide for the
same teams at the same moments.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from shared.catalogue import Catalogue
from shared.devstack import free_port
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.procs import ServiceGroup
from tests.helpers import eventually, read_topic

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# (category, community): volunteer categories in Chaoyangli compete for the teams' capacity.
MIX = [
    ("corridor_clutter", "chaoyangli"),  # veterans 15 + corridor_cleanup 8, then housing
    ("corridor_clutter", "chaoyangli"),
    ("neighbour_dispute", "chaoyangli"),  # mediation 6, then the police desk
    ("empty_nest_care", "chaoyangli"),  # veterans / art_volunteers / warm_home, then civil affairs
    ("street_light_out", "jinrongjie"),
    ("water_outage", "yibinxili"),
]


def needs(count: int) -> list[NeedSubmitted]:
    out = []
    for i in range(count):
        category, community = MIX[i % len(MIX)]
        out.append(
            NeedSubmitted(
                case_id=f"c-{uuid.uuid4().hex[:12]}",
                category=category,
                description=f"need {i}",
                community=community,
                street="nanyingmen" if community == "chaoyangli" else "wanxing",
                submitted_at=NOW,
            )
        )
    return out


async def send(producer: AIOKafkaProducer, topic: str, batch: list[NeedSubmitted], *, twice: int = 0) -> None:
    """Publish the batch; the first `twice` needs also again under a new event id and as an exact redelivery."""
    futures = []
    for i, need in enumerate(batch):
        event = make_event(need, source="/test", subject=need.case_id, time=NOW)
        copies = [event]
        if i < twice:
            copies += [event, make_event(need, source="/test", subject=need.case_id, time=NOW)]
        for e in copies:
            futures.append(await producer.send(topic, e.to_bytes(), key=need.case_id.encode()))
    await asyncio.gather(*futures)


async def test_three_processes_route_each_need_once_within_capacity(
    env: dict[str, str],
    keys: dict[str, Any],
    kafka_bootstrap: str,
    database_url: str,
    prefix: str,
    catalogue: Catalogue,
    tmp_path: Path,
) -> None:
    group = ServiceGroup(env=env, log_dir=tmp_path / "logs")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f"{prefix}routing"})
    first, second = needs(150), needs(150)
    try:
        procs = [group.start("routing", port=free_port()) for _ in range(3)]
        await asyncio.to_thread(group.wait_ready, timeout=90)
        await producer.start()
        topic = f"{prefix}intake.events"
        await send(producer, topic, first, twice=20)

        async def some_routed() -> bool:
            return bool(await conn.fetchval("SELECT count(*) >= 40 FROM cases WHERE status = 'routed'"))

        await eventually(some_routed, timeout=60)
        await asyncio.to_thread(procs[0].stop)  # a rebalance midway: its partitions move to the others
        await send(producer, topic, second, twice=20)
        wanted = {n.case_id for n in first + second}

        async def all_routed() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM cases WHERE status = 'routed'") == len(wanted))

        await eventually(all_routed, timeout=90)

        async def outbox_drained() -> bool:
            return bool(await conn.fetchval("SELECT count(*) = 0 FROM outbox"))

        await eventually(outbox_drained, timeout=30)
        records = await read_topic(
            kafka_bootstrap,
            f"{prefix}routing.events",
            until=lambda rs: {r.key.decode() for r in rs} >= wanted,
            timeout=60,
        )
    finally:
        await producer.stop()
        await asyncio.to_thread(group.stop_all)
    try:
        # One decision per case in the database.
        decisions = await conn.fetch("SELECT case_id, count(*) AS n FROM assignments GROUP BY case_id")
        assert {r["case_id"] for r in decisions} == wanted
        assert all(r["n"] == 1 for r in decisions)
        # Capacity held by the database counter and by what was actually assigned.
        loads = await conn.fetch("SELECT team, open_cases FROM team_load")
        held = Counter(
            r["team_slot"] for r in await conn.fetch("SELECT team_slot FROM cases WHERE team_slot IS NOT NULL")
        )
        for row in loads:
            capacity = catalogue.team(row["team"]).capacity  # type: ignore[union-attr]
            assert row["open_cases"] <= capacity
            assert row["open_cases"] == held[row["team"]]
    finally:
        await conn.close()
    # One distinct `case routed` event per case on the topic (a relay retry may repeat an event id, never a decision).
    routed: dict[str, set[str]] = {}
    per_team: Counter[str] = Counter()
    for record in records:
        event = orjson.loads(record.value)
        if event["type"] != "lastmeter.case.routed":
            continue
        ids = routed.setdefault(event["subject"], set())
        if event["id"] not in ids and event["data"]["assignee"]["kind"] == "team":
            per_team[event["data"]["assignee"]["code"]] += 1
        ids.add(event["id"])
    assert set(routed) == wanted
    assert all(len(ids) == 1 for ids in routed.values())
    for code, count in per_team.items():
        assert count <= catalogue.team(code).capacity  # type: ignore[union-attr]
    # The teams really filled up: the capacity limit was exercised, not just never reached.
    assert per_team["mediation"] == catalogue.team("mediation").capacity  # type: ignore[union-attr]
    assert per_team["corridor_cleanup"] == catalogue.team("corridor_cleanup").capacity  # type: ignore[union-attr]
