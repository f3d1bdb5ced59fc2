"""Warnings at 50 % and 75 %, the breach when it happens (never back-dated), then 催办 → 督办 → district."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import bearer
from tests.integration.test_sla_support import POWER, T0, URBAN, H, SlaHarness, count, harness, of_type, routed, ts


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


async def test_warning_breach_then_escalation_chain(sla: SlaHarness, keys: dict[str, Any]) -> None:
    async with sla.running() as client:
        await sla.publish(routed("esc-1"))
        armed = await sla.events("esc-1", until=count("deadline_armed", 3))
        due = {e["data"]["kind"]: ts(e["data"]["due_at"]) for e in of_type(armed, "deadline_armed")}
        assert due == {"response": T0 + 2 * H, "first_feedback": T0 + 4 * H, "resolution": T0 + 24 * H}

        sla.advance(1 * H)  # 50 % of the 2h response window
        got = await sla.events("esc-1", until=count("warning", 1, kind="response"))
        assert [e["data"]["fraction"] for e in of_type(got, "warning", kind="response")] == [0.5]

        sla.advance(H / 2)  # 75 %
        got = await sla.events("esc-1", until=count("warning", 2, kind="response"))
        assert [e["data"]["fraction"] for e in of_type(got, "warning", kind="response")] == [0.5, 0.75]
        assert not of_type(got, "breached")

        # The loop looks 10 minutes after the deadline: the breach carries that instant, not the due time.
        sla.advance(H / 2 + H / 6)
        got = await sla.events("esc-1", until=count("escalated", 1, kind="response"))
        [breach] = of_type(got, "breached", kind="response")
        assert ts(breach["data"]["due_at"]) == T0 + 2 * H
        assert ts(breach["data"]["breached_at"]) == T0 + 2 * H + H / 6
        [remind] = of_type(got, "escalated", kind="response")
        assert (remind["data"]["level"], remind["data"]["target_kind"], remind["data"]["target_code"]) == (
            "remind",
            "department",
            URBAN.code,
        )

        sla.advance(H)  # 150 % of the window: supervision by the street office (督办)
        got = await sla.events("esc-1", until=count("escalated", 2, kind="response"))
        supervise = of_type(got, "escalated", kind="response", level="supervise")
        assert [(e["data"]["target_kind"], e["data"]["target_code"]) for e in supervise] == [
            ("street_office", "wanxing")
        ]

        sla.advance(H)  # 200 %: the district (wanxing has none of its own: the catalogue's, nankai)
        got = await sla.events("esc-1", until=count("escalated", 3, kind="response"))
        district = of_type(got, "escalated", kind="response", level="district")
        assert [(e["data"]["target_kind"], e["data"]["target_code"]) for e in district] == [("district", "nankai")]

        resp = await client.get("/v1/cases/esc-1/deadlines", headers=bearer(keys["admin"]))
        assert resp.status_code == 200
        response = next(d for d in resp.json() if d["kind"] == "response")
        assert response["state"] == "overdue"
        assert ts(response["breached_at"]) == T0 + 2 * H + H / 6
        assert response["fired"] == [
            "warning:0.5",
            "warning:0.75",
            "breach",
            "escalate:remind",
            "escalate:supervise",
            "escalate:district",
        ]
        assert response["next_step"] is None
        # A department that is not the assignee may not read the case's deadlines.
        other = await client.get("/v1/cases/esc-1/deadlines", headers=bearer(keys["departments"][POWER.code]))
        assert other.status_code == 403

    # Every step fired exactly once.
    final = await sla.events("esc-1", until=count("escalated", 3, kind="response"))
    steps = [
        (e["type"], e["data"].get("fraction"), e["data"].get("level")) for e in final if e["data"]["kind"] == "response"
    ]
    assert len(steps) == len(set(steps))
