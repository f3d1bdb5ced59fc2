"""Firing schedules and what fires when a timer falls due (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.sla.clocks import Deadline
from services.sla.policy import Policies
from services.sla.steps import after, next_step, plan_firing, steps_for
from shared.catalogue import load_catalogue
from shared.settings import REPO_ROOT

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def policies() -> Policies:
    return Policies(load_catalogue(REPO_ROOT / "catalogue" / "demo.yaml"))


def _deadline(**kw: object) -> Deadline:
    fields: dict[str, object] = {
        "case_id": "c",
        "kind": "response",
        "round": 1,
        "attempt": 1,
        "assignee": None,
        "sla_class": "utilities",
        "calendar": "24x7",
        "duration": 2 * H,
        "started_at": T0,
        "due_at": T0 + 2 * H,
    }
    fields.update(kw)
    return Deadline(**fields)  # type: ignore[arg-type]  # built from a dict of mixed field types


def test_schedule_is_warnings_breach_then_escalations(policies: Policies) -> None:
    d = _deadline()
    steps = steps_for(d, policies.sla_class("utilities"), policies.calendar("24x7"))
    assert [(s.name, s.at - T0) for s in steps] == [
        ("warning:0.5", H),
        ("warning:0.75", 1.5 * H),
        ("breach", 2 * H),
        ("escalate:remind", 2 * H),  # same instant as the breach, after it
        ("escalate:supervise", 3 * H),
        ("escalate:district", 4 * H),
    ]


def test_emergency_class_warns_at_its_own_fractions(policies: Policies) -> None:
    d = _deadline(sla_class="emergency", duration=timedelta(minutes=15))
    steps = steps_for(d, policies.sla_class("emergency"), policies.calendar("24x7"))
    warnings = [s.fraction for s in steps if s.action == "warning"]
    assert warnings == [0.25, 0.5, 0.75]


def test_pauses_move_every_step(policies: Policies) -> None:
    d = _deadline(pauses=((T0 + H / 2, T0 + 3 * H / 2),))
    steps = steps_for(d, policies.sla_class("utilities"), policies.calendar("24x7"))
    assert [s.at - T0 for s in steps][:3] == [2 * H, 2.5 * H, 3 * H]


def test_working_hours_schedule_skips_nights(policies: Policies) -> None:
    friday_1630 = datetime(2026, 3, 6, 8, 30, tzinfo=UTC)
    d = _deadline(calendar="workday", duration=2 * H, started_at=friday_1630)
    steps = steps_for(d, policies.sla_class("utilities"), policies.calendar("workday"))
    # One working hour on Friday (to 17:30), the second from Monday 08:30.
    assert steps[0].at == friday_1630 + H
    assert next(s for s in steps if s.name == "breach").at == datetime(2026, 3, 9, 1, 30, tzinfo=UTC)


def test_paused_or_stopped_deadlines_have_no_schedule(policies: Policies) -> None:
    cls, cal = policies.sla_class("utilities"), policies.calendar("24x7")
    assert steps_for(_deadline(status="paused", paused_at=T0), cls, cal) == []
    assert steps_for(_deadline(status="met"), cls, cal) == []


def test_next_step_and_after(policies: Policies) -> None:
    cls, cal = policies.sla_class("utilities"), policies.calendar("24x7")
    steps = steps_for(_deadline(), cls, cal)
    assert next_step(_deadline(), cls, cal, {"warning:0.5"}) == steps[1]
    assert next_step(_deadline(), cls, cal, {s.name for s in steps}) is None
    assert [s.name for s in after(steps, "breach")] == ["escalate:remind", "escalate:supervise", "escalate:district"]
    assert after(steps, "gone") == steps


def test_next_step_is_the_first_unfired_of_the_whole_schedule_on_a_working_calendar(policies: Policies) -> None:
    d = _deadline()
    cls, cal = policies.sla_class("utilities"), policies.calendar("workday")
    steps = steps_for(d, cls, cal)
    for n in range(len(steps) + 1):
        fired = {s.name for s in steps[:n]}
        assert next_step(d, cls, cal, fired) == (steps[n] if n < len(steps) else None)


def test_plan_fires_what_is_due_and_schedules_the_next(policies: Policies) -> None:
    steps = steps_for(_deadline(), policies.sla_class("utilities"), policies.calendar("24x7"))
    plan = plan_firing(steps, set(), T0 + H)
    assert ([s.name for s in plan.fire], plan.skip, plan.next) == (["warning:0.5"], [], steps[1])


def test_plan_after_downtime_skips_stale_warnings_but_fires_every_escalation(policies: Policies) -> None:
    steps = steps_for(_deadline(), policies.sla_class("utilities"), policies.calendar("24x7"))
    plan = plan_firing(steps, set(), T0 + 3 * H)
    assert [s.name for s in plan.skip] == ["warning:0.5", "warning:0.75"]
    assert [s.name for s in plan.fire] == ["breach", "escalate:remind", "escalate:supervise"]
    assert plan.next is not None
    assert plan.next.name == "escalate:district"


def test_plan_of_two_due_warnings_sends_only_the_later(policies: Policies) -> None:
    steps = steps_for(_deadline(), policies.sla_class("utilities"), policies.calendar("24x7"))
    plan = plan_firing(steps, set(), T0 + 1.6 * H)
    assert ([s.name for s in plan.skip], [s.name for s in plan.fire]) == (["warning:0.5"], ["warning:0.75"])


def test_plan_never_refires(policies: Policies) -> None:
    steps = steps_for(_deadline(), policies.sla_class("utilities"), policies.calendar("24x7"))
    fired = {"warning:0.5", "warning:0.75", "breach", "escalate:remind"}
    plan = plan_firing(steps, fired, T0 + 2 * H)
    assert plan.fire == []
    assert plan.skip == []
    assert plan.next is not None
    assert plan.next.name == "escalate:supervise"


def test_recomputed_shorter_deadline_fires_its_breach_at_once(policies: Policies) -> None:
    d = replace(_deadline(), duration=H / 2, due_at=T0 + H / 2)
    steps = steps_for(d, policies.sla_class("utilities"), policies.calendar("24x7"))
    plan = plan_firing(steps, {"warning:0.5"}, T0 + H)
    assert [s.name for s in plan.fire] == ["breach", "escalate:remind", "escalate:supervise", "escalate:district"]
    assert [s.name for s in plan.skip] == ["warning:0.75"]
