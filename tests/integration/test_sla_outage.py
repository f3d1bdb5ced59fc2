"""After an sla outage, a deadline met in time (its `case.signed` still in the backlog) must not breach.

The timer loop fires only what is due by the input watermark (docs/sla.md, "After an outage"): the
backlog is applied first, then a deadline that was really missed breaches once, stamped with the
moment sla knows it (not back-dated to the due time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.events.routing import CaseSigned
from tests.integration.test_sla_support import T0, URBAN, H, SlaHarness, count, harness, of_type, routed, ts


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


async def test_a_sign_in_the_backlog_stops_the_clock_before_any_breach(sla: SlaHarness) -> None:
    async with sla.running():
        await sla.publish(routed("met-1"), routed("late-1"))
        await sla.events(until=count("deadline_armed", 6))
    # sla is down. Half an hour in, met-1 is signed for (response due T0+2h); late-1 never is.
    sla.clock.advance(H / 2)
    await sla.publish(CaseSigned(case_id="met-1", assignee=URBAN, signed_at=T0 + H / 2))
    # sla stays down past the response deadline, then starts with the sign still unread.
    sla.clock.advance(2 * H)
    async with sla.running():
        late = await sla.events("late-1", until=count("escalated", 1, kind="response"))
        met = await sla.events("met-1", until=count("deadline_stopped", 1, kind="response"))
        watermark = await sla.fetch("SELECT min(known_through) AS low, count(*) AS n FROM watermarks")
    [stopped] = of_type(met, "deadline_stopped", kind="response")
    assert stopped["data"]["met"] is True
    # The sign was read before anything fired: met-1 got no warning, breach or escalation of its response clock.
    assert not of_type(met, "breached", kind="response")
    assert not of_type(met, "escalated", kind="response")
    assert not of_type(met, "warning", kind="response")
    # late-1 really missed it: one breach and one escalation, stamped when sla knew (start-up), not at due time.
    [breach] = of_type(late, "breached", kind="response")
    assert ts(breach["data"]["due_at"]) == T0 + 2 * H
    assert ts(breach["data"]["breached_at"]) == T0 + 2 * H + H / 2
    assert len(of_type(late, "escalated", kind="response")) == 1
    # It fired only once every input partition was known through its due time.
    assert watermark[0]["n"] > 0
    assert watermark[0]["low"] >= T0 + 2 * H


async def test_timers_wait_while_an_input_partition_is_unread(sla: SlaHarness) -> None:
    async with sla.running() as _:
        await sla.publish(routed("held-1"))
        await sla.events("held-1", until=count("deadline_armed", 3))
        # Nothing is known of sla's inputs: the breach is due by the clock, but must wait.
        await sla.fetch("UPDATE watermarks SET known_through = NULL")
        loop = sla.apps[0].state.runtime.extras.timers.get()
        sla.clock.advance(2 * H + H / 60)
        assert await loop.fire_due() == 0
        assert await sla.fetch("SELECT * FROM firings") == []
        # Once the consumer reports it has read through now, the breach fires (stamped now).
        sla.advance(0 * H)
        got = await sla.events("held-1", until=count("breached", 1, kind="response"))
    [breach] = of_type(got, "breached", kind="response")
    assert ts(breach["data"]["breached_at"]) == T0 + 2 * H + H / 60
