"""Pause / resume, decline and reopen over the real broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.events import make_event
from shared.events.routing import (
    CaseAwaitingResident,
    CaseDeclined,
    CaseReopened,
    CaseResolved,
    CaseResumed,
    CaseSigned,
    PriorityChanged,
)
from shared.topics import ROUTING_EVENTS
from tests.helpers import bearer, consumer_record
from tests.integration.test_sla_support import POWER, T0, URBAN, H, SlaHarness, count, harness, of_type, routed, ts


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


async def test_waiting_on_the_resident_pauses_every_clock_and_resume_pushes_them_back(
    sla: SlaHarness, keys: dict[str, Any]
) -> None:
    street = bearer(keys["street_offices"]["wanxing"])
    async with sla.running() as client:
        await sla.publish(routed("pause-1"))
        await sla.events("pause-1", until=count("deadline_armed", 3))
        # Not waiting on the resident: pausing is refused.
        resp = await client.post("/v1/cases/pause-1/pause", headers=street)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "not_awaiting_resident"
        assert (await client.post("/v1/cases/pause-1/resume", headers=street)).status_code == 409
        assert (await client.post("/v1/cases/nope/pause", headers=street)).status_code == 404
        other_street = bearer(keys["street_offices"]["nanyingmen"])
        assert (await client.post("/v1/cases/pause-1/pause", headers=other_street)).status_code == 403
        dept = bearer(keys["departments"][URBAN.code])
        assert (await client.post("/v1/cases/pause-1/pause", headers=dept)).status_code == 403

        sla.clock.advance(H / 2)
        await sla.publish(CaseAwaitingResident(case_id="pause-1", assignee=URBAN, note="需要入户", at=T0 + H / 2))
        got = await sla.events("pause-1", until=count("deadline_armed", 3, reason="paused"))
        assert {e["data"]["kind"] for e in of_type(got, "deadline_armed", reason="paused")} == {
            "response",
            "first_feedback",
            "resolution",
        }
        assert all(e["data"]["due_at"] is None for e in of_type(got, "deadline_armed", reason="paused"))
        # Pausing a case that waits on the resident and is paused already changes nothing.
        resp = await client.post("/v1/cases/pause-1/pause", headers=street)
        assert resp.status_code == 200
        assert {d["state"] for d in resp.json()} == {"paused"}

        # Hours pass while paused: nothing fires.
        sla.advance(5 * H)
        await sla.publish(CaseResumed(case_id="pause-1", assignee=URBAN, at=T0 + 5 * H + H / 2))
        got = await sla.events("pause-1", until=count("deadline_armed", 3, reason="resumed"))
        resumed = {e["data"]["kind"]: ts(e["data"]["due_at"]) for e in of_type(got, "deadline_armed", reason="resumed")}
        assert resumed == {"response": T0 + 7 * H, "first_feedback": T0 + 9 * H, "resolution": T0 + 29 * H}
        assert not of_type(got, "warning")
        assert not of_type(got, "breached")
        assert await sla.fetch("SELECT * FROM firings") == []

        # The street office pauses again (the case still waits? no: routing said it resumed) → 409.
        assert (await client.post("/v1/cases/pause-1/pause", headers=street)).status_code == 409

        # A new wait, then the street office overrides it and runs the clocks again.
        await sla.publish(CaseAwaitingResident(case_id="pause-1", assignee=URBAN, at=T0 + 6 * H))
        await sla.events("pause-1", until=count("deadline_armed", 6, reason="paused"))
        sla.clock.advance(H)  # now T0 + 6.5h; paused since T0 + 6h
        resp = await client.post("/v1/cases/pause-1/resume", headers=street)
        assert resp.status_code == 200, resp.text
        response = next(d for d in resp.json() if d["kind"] == "response")
        assert response["state"] == "armed"
        assert ts(response["due_at"]) == T0 + 7 * H + H / 2
        assert (await client.post("/v1/cases/pause-1/resume", headers=street)).status_code == 409
        # It still waits on the resident, so the street office may pause it again.
        assert (await client.post("/v1/cases/pause-1/pause", headers=street)).status_code == 200


async def test_decline_restarts_the_response_clock_but_not_the_resolution_deadline(
    sla: SlaHarness, keys: dict[str, Any]
) -> None:
    async with sla.running() as client:
        await sla.publish(
            routed("dec-1"),
            CaseDeclined(
                case_id="dec-1",
                assignee=URBAN,
                attempt=1,
                reason_code="not_our_area",
                decline_count=1,
                declined_at=T0 + H / 2,
            ),
            routed("dec-1", at=T0 + H, attempt=2, assignee=POWER, previous_assignees=[URBAN]),
        )
        got = await sla.events("dec-1", until=count("deadline_armed", 2, kind="response"))
        [stopped] = of_type(got, "deadline_stopped", kind="response")
        assert (stopped["data"]["reason"], stopped["data"]["met"], stopped["data"]["attempt"]) == ("declined", False, 1)
        second = of_type(got, "deadline_armed", kind="response", attempt=2)
        assert [ts(e["data"]["due_at"]) for e in second] == [T0 + 3 * H]
        assert second[0]["data"]["assignee"] == POWER.model_dump()
        reassigned = of_type(got, "deadline_armed", kind="resolution", reason="reassigned")
        assert [ts(e["data"]["due_at"]) for e in reassigned] == [T0 + 24 * H]  # still from submission
        assert reassigned[0]["data"]["assignee"] == POWER.model_dump()

        # The first attempt's due time passes: nothing fires for the declined attempt.
        sla.advance(2 * H + H / 4)  # T0 + 2h15m: 62.5 % of attempt 2's window
        got = await sla.events("dec-1", until=count("warning", 1, kind="response"))
        assert [(e["data"]["attempt"], e["data"]["fraction"]) for e in of_type(got, "warning", kind="response")] == [
            (2, 0.5)
        ]
        assert not of_type(got, "breached")
        await sla.publish(CaseSigned(case_id="dec-1", assignee=POWER, attempt=2, signed_at=T0 + 2 * H + H / 4))
        got = await sla.events("dec-1", until=count("deadline_stopped", 1, reason="signed"))
        assert of_type(got, "deadline_stopped", reason="signed")[0]["data"]["met"] is True

        rows = (await client.get("/v1/cases/dec-1/deadlines", headers=bearer(keys["admin"]))).json()
        assert [(d["kind"], d["attempt"], d["state"]) for d in rows if d["kind"] == "response"] == [
            ("response", 1, "cancelled"),
            ("response", 2, "met"),
        ]
        # The power company, the assignee now, sees the case's clocks; urban management, which declined
        # it, no longer may (as in routing and intake).
        power_view = await client.get("/v1/cases/dec-1/deadlines", headers=bearer(keys["departments"]["power"]))
        assert power_view.status_code == 200
        assert {(d["kind"], d["attempt"]) for d in power_view.json()} >= {("response", 1), ("response", 2)}
        urban_view = await client.get("/v1/cases/dec-1/deadlines", headers=bearer(keys["departments"]["urban_mgmt"]))
        assert urban_view.status_code == 403


async def test_reopen_starts_a_new_resolution_round_and_priority_recomputes(
    sla: SlaHarness, keys: dict[str, Any]
) -> None:
    async with sla.running() as client:
        await sla.publish(
            routed("reo-1"),
            CaseSigned(case_id="reo-1", assignee=URBAN, signed_at=T0 + H / 4),
            CaseResolved(case_id="reo-1", assignee=URBAN, note="已修复", resolved_at=T0 + 5 * H),
            CaseReopened(case_id="reo-1", assignee=URBAN, round=2, reason="居民不满意", reopened_at=T0 + 30 * H),
        )
        got = await sla.events("reo-1", until=count("deadline_armed", 1, kind="resolution", round=2))
        [round2] = of_type(got, "deadline_armed", kind="resolution", round=2)
        assert ts(round2["data"]["due_at"]) == T0 + 54 * H
        stops = {(e["data"]["kind"], e["data"]["reason"], e["data"]["met"]) for e in of_type(got, "deadline_stopped")}
        assert stops == {
            ("response", "signed", True),
            ("first_feedback", "resolved", False),
            ("resolution", "resolved", True),
        }

        # Raised to emergency: the running clocks are recomputed on the emergency class (resolve in 2h).
        await sla.publish(PriorityChanged(case_id="reo-1", priority="emergency", at=T0 + 31 * H))
        got = await sla.events("reo-1", until=count("deadline_armed", 1, kind="resolution", reason="recomputed"))
        [recomputed] = of_type(got, "deadline_armed", kind="resolution", reason="recomputed")
        assert (recomputed["data"]["sla_class"], ts(recomputed["data"]["due_at"])) == ("emergency", T0 + 32 * H)

        sla.advance(32 * H)  # T0 + 32h: the recomputed deadline is due now
        got = await sla.events("reo-1", until=count("breached", 1, kind="resolution", round=2))
        [breach] = of_type(got, "breached", kind="resolution")
        assert ts(breach["data"]["breached_at"]) == T0 + 32 * H
        # The 75 % warning fell due together with the breach: skipped, not sent.
        assert not of_type(got, "warning", kind="resolution")

        rows = (await client.get("/v1/cases/reo-1/deadlines", headers=bearer(keys["admin"]))).json()
        resolution = [(d["round"], d["state"]) for d in rows if d["kind"] == "resolution"]
        assert resolution == [(1, "met"), (2, "overdue")]


async def test_a_backlog_in_one_batch_arms_and_stops_clocks_as_if_events_came_one_by_one(
    sla: SlaHarness, keys: dict[str, Any]
) -> None:
    history = [
        routed("batch-1"),
        CaseDeclined(
            case_id="batch-1",
            assignee=URBAN,
            attempt=1,
            reason_code="not_our_area",
            decline_count=1,
            declined_at=T0 + H / 4,
        ),
        routed("batch-1", at=T0 + H / 2, attempt=2, assignee=POWER, previous_assignees=[URBAN]),
        CaseSigned(case_id="batch-1", assignee=POWER, attempt=2, signed_at=T0 + H),
        routed("batch-2"),
    ]
    records = [
        consumer_record(ROUTING_EVENTS, i, make_event(e, source="/test", subject=e.case_id, time=T0))
        for i, e in enumerate(history)
    ]
    async with sla.running() as client:
        # One batch: the first routing's new deadlines are still unwritten when the decline must
        # stop its response clock.
        await sla.apps[-1].state.runtime.consumers[0].apply(records)
        await sla.events("batch-1", until=count("deadline_stopped", 1, reason="signed"))
        await sla.events("batch-2", until=count("deadline_armed", 3))
        rows = (await client.get("/v1/cases/batch-1/deadlines", headers=bearer(keys["admin"]))).json()
        timers = await sla.fetch(
            "SELECT d.case_id, d.kind, d.attempt FROM timers t JOIN deadlines d ON d.id = t.deadline_id "
            "AND d.generation = t.generation ORDER BY 1, 2, 3"
        )
        dispatched = await sla.fetch(
            "SELECT dispatched, signed_in_time FROM rate_counters WHERE dimension = 'street' AND period = 'day'"
        )
    assert [(d["kind"], d["attempt"], d["state"]) for d in rows] == [
        ("response", 1, "cancelled"),
        ("first_feedback", 2, "armed"),  # reassigned to the second attempt's assignee
        ("resolution", 2, "armed"),
        ("response", 2, "met"),
    ]
    # Only running clocks keep a live timer: neither response clock of batch-1 does.
    assert [tuple(r) for r in timers] == [
        ("batch-1", "first_feedback", 2),
        ("batch-1", "resolution", 2),
        ("batch-2", "first_feedback", 1),
        ("batch-2", "resolution", 1),
        ("batch-2", "response", 1),
    ]
    assert [tuple(r) for r in dispatched] == [(3, 1)]  # two dispatches of batch-1, one of batch-2
