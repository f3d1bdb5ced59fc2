"""Clock rules: arm on routing, stop, pause / resume, decline, priority change, reopen (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.sla import clocks
from services.sla.clocks import Change, Deadline
from services.sla.policy import Policies
from shared.catalogue import Catalogue, load_catalogue
from shared.events import Assignee
from shared.settings import REPO_ROOT

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Tianjin
H = timedelta(hours=1)
URBAN = Assignee(kind="department", code="urban_mgmt")
POWER = Assignee(kind="department", code="power")


@pytest.fixture(scope="module")
def policies() -> Policies:
    catalogue: Catalogue = load_catalogue(REPO_ROOT / "catalogue" / "demo.yaml")
    return Policies(catalogue)


def _routed(policies: Policies, deadlines: list[Deadline], **kw: Any) -> list[Change]:
    args: dict[str, Any] = {
        "case_id": "c",
        "round_": 1,
        "round_started_at": T0,
        "attempt": 1,
        "assignee": URBAN,
        "cls": policies.sla_class("utilities"),
        "at": T0,
        "paused_at": None,
        "policies": policies,
    }
    args.update(kw)
    return clocks.on_routed(deadlines, **args)


def _apply(deadlines: list[Deadline], changes: list[Change]) -> list[Deadline]:
    """What the store does: replace changed deadlines (matched by identity), append new ones."""
    out = list(deadlines)
    for ch in changes:
        d = ch.deadline
        key = (d.kind, d.round, d.attempt if d.kind == "response" else 0)
        idx = next(
            (i for i, o in enumerate(out) if (o.kind, o.round, o.attempt if o.kind == "response" else 0) == key), None
        )
        if idx is None:
            out.append(d)
        else:
            out[idx] = d
    return out


def _by_kind(deadlines: list[Deadline], kind: str) -> list[Deadline]:
    return [d for d in deadlines if d.kind == kind]


def test_routing_arms_response_feedback_and_resolution(policies: Policies) -> None:
    changes = _routed(policies, [], at=T0 + H / 2)
    assert [(c.what, c.deadline.kind) for c in changes] == [
        ("armed", "response"),
        ("armed", "first_feedback"),
        ("armed", "resolution"),
    ]
    due = {c.deadline.kind: c.deadline.due_at for c in changes}
    # Response runs from the routing; feedback and resolution from submission (the resident's view).
    assert due == {"response": T0 + H / 2 + 2 * H, "first_feedback": T0 + 4 * H, "resolution": T0 + 24 * H}


def test_working_day_class_counts_working_hours_but_signs_around_the_clock(policies: Policies) -> None:
    friday_evening = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Fri 18:00 Tianjin: office closed
    changes = _routed(policies, [], cls=policies.sla_class("complex_workday"), at=friday_evening)
    deadlines = {c.deadline.kind: c.deadline for c in changes}
    assert deadlines["response"].due_at == friday_evening + 2 * H  # response_calendar 24x7
    assert deadlines["response"].calendar == "24x7"
    # Feedback counts 9 working hours from submission (Mon 09:00): 8.5h to Monday's close, then Tue 09:00.
    assert deadlines["first_feedback"].due_at == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert deadlines["first_feedback"].calendar == "workday"


def test_emergency_priority_runs_on_the_emergency_class(policies: Policies) -> None:
    assert policies.for_case("utilities", "emergency").code == "emergency"
    assert policies.for_case("utilities", "high").code == "utilities"
    assert policies.for_case(None, "normal").code == "general"
    assert policies.for_case("no_such_class", "normal").code == "general"


def test_signing_stops_the_response_clock_in_time_or_late(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    [in_time] = clocks.on_signed(deadlines, attempt=1, at=T0 + H, policies=policies)
    assert (in_time.what, in_time.met, in_time.deadline.status) == ("stopped", True, "met")
    [late] = clocks.on_signed(deadlines, attempt=1, at=T0 + 3 * H, policies=policies)
    assert (late.met, late.deadline.status, late.deadline.stop_reason) == (False, "breached", "signed")
    stopped = _apply(deadlines, [in_time])
    assert clocks.on_signed(stopped, attempt=1, at=T0 + H, policies=policies) == []


def test_decline_cancels_the_attempt_and_the_next_routing_restarts_only_the_response_clock(
    policies: Policies,
) -> None:
    deadlines = _apply([], _routed(policies, []))
    [declined] = clocks.on_declined(deadlines, attempt=1, at=T0 + H / 2, policies=policies)
    assert (declined.deadline.status, declined.met, declined.deadline.stop_reason) == ("cancelled", False, "declined")
    deadlines = _apply(deadlines, [declined])
    changes = _routed(policies, deadlines, attempt=2, assignee=POWER, at=T0 + H)
    assert [(c.what, c.deadline.kind, c.deadline.attempt) for c in changes] == [
        ("armed", "response", 2),
        ("reassigned", "first_feedback", 2),
        ("reassigned", "resolution", 2),
    ]
    by_kind = {c.deadline.kind: c.deadline for c in changes}
    assert by_kind["response"].due_at == T0 + 3 * H
    assert by_kind["resolution"].due_at == T0 + 24 * H  # still from submission
    assert by_kind["resolution"].assignee == POWER


def test_rerouting_without_a_decline_supersedes_the_running_response_clock(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    changes = _routed(policies, deadlines, attempt=2, assignee=POWER, at=T0 + H)
    superseded = [c for c in changes if c.what == "stopped"]
    assert [(c.deadline.attempt, c.deadline.stop_reason, c.deadline.status) for c in superseded] == [
        (1, "superseded", "cancelled")
    ]


def test_same_routing_twice_changes_nothing(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    assert _routed(policies, deadlines) == []


def test_first_progress_stops_first_feedback_only(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    [change] = clocks.on_progress(deadlines, round_=1, at=T0 + 5 * H, policies=policies)
    assert (change.deadline.kind, change.met) == ("first_feedback", False)
    deadlines = _apply(deadlines, [change])
    assert clocks.on_progress(deadlines, round_=1, at=T0 + 6 * H, policies=policies) == []


def test_pause_and_resume_push_every_running_deadline_back(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    paused = clocks.on_paused(deadlines, at=T0 + H)
    assert {(c.what, c.deadline.status, c.deadline.due_at) for c in paused} == {("paused", "paused", None)}
    deadlines = _apply(deadlines, paused)
    assert clocks.on_paused(deadlines, at=T0 + 2 * H) == []  # paused already
    resumed = clocks.on_resumed(deadlines, at=T0 + 4 * H, policies=policies)
    due = {c.deadline.kind: c.deadline.due_at for c in resumed}
    assert due == {"response": T0 + 5 * H, "first_feedback": T0 + 7 * H, "resolution": T0 + 27 * H}
    assert all(c.deadline.pauses == ((T0 + H, T0 + 4 * H),) for c in resumed)


def test_pause_on_a_working_day_calendar_only_costs_working_time(policies: Policies) -> None:
    cls = policies.sla_class("complex_workday")
    deadlines = _apply([], _routed(policies, [], cls=cls))
    resolution = _by_kind(deadlines, "resolution")[0]
    # Paused Fri 17:00 → Mon 09:00: only the working time inside the pause is lost, half an hour before
    # Friday's close and half an hour after Monday's opening; the weekend costs nothing.
    fri_17 = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    mon_09 = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    deadlines = _apply(deadlines, clocks.on_paused(deadlines, at=fri_17))
    resumed = clocks.on_resumed(deadlines, at=mon_09, policies=policies)
    after = next(c.deadline for c in resumed if c.deadline.kind == "resolution")
    assert resolution.due_at is not None
    assert after.due_at is not None
    assert after.due_at - resolution.due_at == H


def test_stop_while_paused_closes_the_pause(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    deadlines = _apply(deadlines, clocks.on_paused(deadlines, at=T0 + H))
    changes = clocks.on_resolved(deadlines, round_=1, at=T0 + 30 * H, policies=policies)
    resolution = next(c for c in changes if c.deadline.kind == "resolution")
    # 29h paused: the 24h deadline moved to T0+53h, so resolving at T0+30h is in time.
    assert (resolution.met, resolution.deadline.due_at, resolution.deadline.paused_at) == (True, T0 + 53 * H, None)


def test_resolving_stops_the_rounds_clocks(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    changes = clocks.on_resolved(deadlines, round_=1, at=T0 + 5 * H, policies=policies)
    assert {(c.deadline.kind, c.deadline.stop_reason, c.met) for c in changes} == {
        ("response", "resolved", False),
        ("first_feedback", "resolved", False),
        ("resolution", "resolved", True),
    }


def test_priority_change_recomputes_from_the_original_start(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    changes = clocks.on_priority(deadlines, cls=policies.sla_class("emergency"), policies=policies)
    due = {c.deadline.kind: (c.what, c.deadline.due_at) for c in changes}
    assert due == {
        "response": ("recomputed", T0 + timedelta(minutes=15)),
        "first_feedback": ("recomputed", T0 + H),
        "resolution": ("recomputed", T0 + 2 * H),
    }
    assert clocks.on_priority(_apply(deadlines, changes), cls=policies.sla_class("emergency"), policies=policies) == []


def test_reopen_starts_a_new_round_from_the_reopen(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    deadlines = _apply(deadlines, clocks.on_resolved(deadlines, round_=1, at=T0 + 5 * H, policies=policies))
    changes = clocks.on_reopened(
        deadlines,
        case_id="c",
        round_=2,
        attempt=1,
        assignee=URBAN,
        cls=policies.sla_class("utilities"),
        at=T0 + 48 * H,
        paused_at=None,
        policies=policies,
    )
    assert [(c.what, c.deadline.kind, c.deadline.round, c.deadline.due_at) for c in changes] == [
        ("armed", "first_feedback", 2, T0 + 52 * H),
        ("armed", "resolution", 2, T0 + 72 * H),
    ]


def test_routing_while_waiting_on_the_resident_arms_paused_clocks(policies: Policies) -> None:
    changes = _routed(policies, [], paused_at=T0 + H, at=T0 + 2 * H)
    assert {(c.deadline.status, c.deadline.due_at) for c in changes} == {("paused", None)}
    response = next(c.deadline for c in changes if c.deadline.kind == "response")
    assert response.paused_at == T0 + 2 * H  # a pause never starts before the clock itself


def test_closing_cancels_whatever_still_runs(policies: Policies) -> None:
    deadlines = _apply([], _routed(policies, []))
    changes = clocks.on_closed(deadlines, at=T0 + H, policies=policies)
    assert {(c.deadline.status, c.met) for c in changes} == {("cancelled", False)}
