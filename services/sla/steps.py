"""A deadline's firing schedule: warnings, the breach, then escalation steps (pure)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.sla.calendar import Calendar, instant_at_fraction
from services.sla.clocks import Deadline
from shared.catalogue import SlaClass

Action = Literal["warning", "breach", "escalate"]
EscalationLevel = Literal["remind", "supervise", "district"]
_RANK = {"warning": 0, "breach": 1, "escalate": 2}


@dataclass(frozen=True)
class Step:
    """One firing of a deadline; `name` is unique per deadline (`warning:0.5`, `breach`, `escalate:remind`)."""

    name: str
    action: Action
    fraction: float
    at: datetime
    level: EscalationLevel | None = None

    @property
    def order(self) -> tuple[float, int]:
        return _order(self.fraction, self.action)


def _order(fraction: float, action: Action) -> tuple[float, int]:
    """Firing order: by share of the window, and the breach before an escalation at the same share."""
    return (fraction, _RANK[action])


def _steps(d: Deadline, cls: SlaClass, cal: Calendar, *, skip: Collection[str] = ()) -> Iterator[Step]:
    """A running deadline's steps in firing order, each instant computed only when it is reached."""
    if d.status != "armed":
        return
    planned: list[tuple[str, Action, float, EscalationLevel | None]] = [
        (f"warning:{f:g}", "warning", f, None) for f in cls.warn_at
    ]
    planned.append(("breach", "breach", 1.0, None))
    planned += [(f"escalate:{e.level}", "escalate", e.after, e.level) for e in cls.escalation]
    # Firing order depends on the share of the window alone, so the plan can be ordered before any
    # instant is computed (walking a working-hours calendar is what costs).
    for name, action, fraction, level in sorted(planned, key=lambda p: _order(p[2], p[1])):
        if name in skip:
            continue
        at = instant_at_fraction(cal, d.started_at, d.duration, fraction, d.pauses)
        if at is not None:
            yield Step(name=name, action=action, fraction=fraction, at=at, level=level)


def steps_for(d: Deadline, cls: SlaClass, cal: Calendar) -> list[Step]:
    """Every step of a running (not paused) deadline, in firing order."""
    return list(_steps(d, cls, cal))


def next_step(d: Deadline, cls: SlaClass, cal: Calendar, fired: Collection[str]) -> Step | None:
    """The earliest step not fired yet, computing no instant after it."""
    return next(_steps(d, cls, cal, skip=fired), None)


def after(steps: Sequence[Step], name: str) -> list[Step]:
    """Steps that come after the named one (all of them if it is no longer part of the schedule)."""
    current = next((s for s in steps if s.name == name), None)
    if current is None:
        return list(steps)
    return [s for s in steps if s.order > current.order]


@dataclass(frozen=True)
class FiringPlan:
    """What to do with a deadline whose timer fell due: fire, skip as stale, and the next timer."""

    fire: list[Step]
    skip: list[Step]
    next: Step | None


def plan_firing(steps: Sequence[Step], fired: Collection[str], now: datetime) -> FiringPlan:
    """Fire every step due by `now` not fired yet; a warning overtaken by a later due step is skipped."""
    pending = [s for s in steps if s.name not in fired]
    due = [s for s in pending if s.at <= now]
    later = [s for s in pending if s.at > now]
    # After downtime (or a shortened deadline) several steps are due at once: a 50 % warning that
    # arrives together with the 75 % one or the breach tells nobody anything, so it is skipped.
    last_due = due[-1] if due else None
    skip = [s for s in due if s.action == "warning" and s is not last_due]
    fire = [s for s in due if s not in skip]
    return FiringPlan(fire=fire, skip=skip, next=later[0] if later else None)
