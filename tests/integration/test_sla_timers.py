"""Durable timers: an overdue timer fires once after a restart; two sla processes never fire one twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.integration.test_sla_support import T0, H, SlaHarness, count, harness, of_type, routed, ts


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


async def test_timer_due_while_down_fires_once_on_start_up(sla: SlaHarness) -> None:
    async with sla.running():
        await sla.publish(routed("down-1"))
        await sla.events("down-1", until=count("deadline_armed", 3))
    # Down for 2.5 hours: the response deadline (T0+2h) passed while nobody was running.
    sla.clock.advance(2 * H + H / 2)
    async with sla.running():
        got = await sla.events("down-1", until=count("escalated", 1, kind="response"))
        [breach] = of_type(got, "breached", kind="response")
        # Recorded when it actually fired (start-up), not back-dated to the due time.
        assert ts(breach["data"]["breached_at"]) == T0 + 2 * H + H / 2
        assert ts(breach["data"]["due_at"]) == T0 + 2 * H
        # The warnings that fell due meanwhile are stale next to the breach: recorded as skipped, not sent.
        assert not of_type(got, "warning", kind="response")
        skipped = await sla.fetch(
            "SELECT f.step FROM firings f JOIN deadlines d ON d.id = f.deadline_id "
            "WHERE d.kind = 'response' AND f.skipped ORDER BY f.step"
        )
        assert [r["step"] for r in skipped] == ["warning:0.5", "warning:0.75"]
    # Another restart, the clock not moved on: nothing fires again.
    async with sla.running():
        await sla.processed(0)
        fired_before = await sla.fetch("SELECT count(*) AS n FROM firings")
        sla.advance(0 * H)
        await sla.apps[0].state.runtime.extras.timers.get().fire_due()
        fired_after = await sla.fetch("SELECT count(*) AS n FROM firings")
    assert fired_before[0]["n"] == fired_after[0]["n"]
    got = await sla.events("down-1", until=count("breached", 1, kind="response"))
    assert len(of_type(got, "breached", kind="response")) == 1
    assert len(of_type(got, "escalated", kind="response")) == 1


async def test_two_sla_processes_never_fire_a_timer_twice(sla: SlaHarness) -> None:
    cases = [f"pair-{i}" for i in range(60)]
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(sla.running())
        await stack.enter_async_context(sla.running())
        await sla.publish(*(routed(c) for c in cases))
        await sla.events(until=count("deadline_armed", 3 * len(cases)), wait=40)
        # Every case's response breach, its reminder and the feedback clock's 50 % warning fall due at once.
        sla.advance(2 * H + H / 60)
        got = await sla.events(until=count("escalated", len(cases)), wait=40)
        got = await sla.events(until=count("warning", len(cases), kind="first_feedback"), wait=40)
        loops = [app.state.runtime.extras.timers.get() for app in sla.apps]
        # Both loops ran against the same timers table; every firing is owned by exactly one of them.
        owners = await sla.fetch("SELECT fired_by, count(*) AS n FROM firings GROUP BY fired_by")
        assert {r["fired_by"] for r in owners} <= {loop.instance for loop in loops}
        assert sum(loop.fired for loop in loops) == 3 * len(cases)
    per_case = Counter(
        (e["subject"], e["data"]["kind"], e["type"], e["data"].get("fraction"), e["data"].get("level"))
        for e in got
        if e["type"] != "lastmeter.sla.deadline_armed"
    )
    assert set(per_case.values()) == {1}
    assert len(of_type(got, "breached")) == len(cases)
    assert {e["subject"] for e in of_type(got, "breached")} == set(cases)
