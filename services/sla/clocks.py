"""Clock rules: how each case event arms, stops, pauses, resumes or recomputes deadlines (pure).

Every rule takes the case's deadlines as they are and returns the changes to make; the handler
persists them, reschedules their timers and publishes one event per change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from services.sla.calendar import deadline_with_pauses
from services.sla.policy import Kind, Policies
from shared.catalogue import SlaClass
from shared.events import Assignee

Status = Literal["armed", "paused", "met", "breached", "cancelled"]
ChangeKind = Literal["armed", "recomputed", "reassigned", "paused", "resumed", "stopped"]
StopReason = Literal["signed", "declined", "progress", "resolved", "superseded", "closed"]
Span = tuple[datetime, datetime]
# Stops that judge the deadline (in time or late); the others only cancel it.
_MEETING: frozenset[str] = frozenset({"signed", "progress", "resolved"})
ROUND_KINDS: tuple[Kind, ...] = ("first_feedback", "resolution")


@dataclass(frozen=True)
class Deadline:
    """One deadline of a case: a kind in a round (and, for response, one routing attempt)."""

    case_id: str
    kind: Kind
    round: int
    attempt: int
    assignee: Assignee | None
    sla_class: str
    calendar: str
    duration: timedelta
    started_at: datetime
    pauses: tuple[Span, ...] = ()
    paused_at: datetime | None = None
    status: Status = "armed"
    due_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_reason: StopReason | None = None
    id: int | None = None

    @property
    def running(self) -> bool:
        """Whether the clock still applies (running or paused)."""
        return self.status in ("armed", "paused")


@dataclass(frozen=True)
class Change:
    """What happened to one deadline; `met` only for stops."""

    deadline: Deadline
    what: ChangeKind
    met: bool | None = None


def with_due(d: Deadline, policies: Policies) -> Deadline:
    """The deadline with `due_at` recomputed from its start, duration, calendar and closed pauses."""
    if d.status == "paused":
        return replace(d, due_at=None)
    due = deadline_with_pauses(policies.calendar(d.calendar), d.started_at, d.duration, d.pauses)
    return replace(d, due_at=due)


def arm(
    *,
    case_id: str,
    kind: Kind,
    round_: int,
    attempt: int,
    assignee: Assignee | None,
    cls: SlaClass,
    started_at: datetime,
    paused_at: datetime | None,
    policies: Policies,
) -> Deadline:
    """A new deadline under `cls`; it starts paused when the case is waiting on the resident."""
    duration, calendar = Policies.window(cls, kind)
    d = Deadline(
        case_id=case_id,
        kind=kind,
        round=round_,
        attempt=attempt,
        assignee=assignee,
        sla_class=cls.code,
        calendar=calendar,
        duration=duration,
        started_at=started_at,
        status="paused" if paused_at else "armed",
        paused_at=max(paused_at, started_at) if paused_at else None,
    )
    return with_due(d, policies)


def stop(d: Deadline, at: datetime, reason: StopReason, policies: Policies) -> Change:
    """Stop a running clock: met / breached for a meeting reason, else cancelled."""
    if d.paused_at is not None:  # a stop while paused closes the pause first
        d = with_due(
            replace(d, pauses=(*d.pauses, (d.paused_at, max(at, d.paused_at))), paused_at=None, status="armed"),
            policies,
        )
    if reason in _MEETING:
        met = d.due_at is None or at <= d.due_at
        status: Status = "met" if met else "breached"
    else:
        met, status = False, "cancelled"
    return Change(replace(d, status=status, stopped_at=at, stop_reason=reason), "stopped", met=met)


def _running(deadlines: Sequence[Deadline], *kinds: Kind) -> list[Deadline]:
    return [d for d in deadlines if d.running and d.kind in kinds]


def _find(deadlines: Sequence[Deadline], kind: Kind, round_: int) -> Deadline | None:
    return next((d for d in deadlines if d.kind == kind and d.round == round_), None)


def on_routed(
    deadlines: Sequence[Deadline],
    *,
    case_id: str,
    round_: int,
    round_started_at: datetime,
    attempt: int,
    assignee: Assignee,
    cls: SlaClass,
    at: datetime,
    paused_at: datetime | None,
    policies: Policies,
) -> list[Change]:
    """A (re-)routing: a fresh response clock for this attempt; the round's clocks armed once and kept running."""
    changes = [stop(d, at, "superseded", policies) for d in _running(deadlines, "response") if d.attempt != attempt]
    if not any(d.kind == "response" and d.round == round_ and d.attempt == attempt for d in deadlines):
        new = arm(
            case_id=case_id,
            kind="response",
            round_=round_,
            attempt=attempt,
            assignee=assignee,
            cls=cls,
            started_at=at,
            paused_at=paused_at,
            policies=policies,
        )
        changes.append(Change(new, "armed"))
    for kind in ROUND_KINDS:
        current = _find(deadlines, kind, round_)
        if current is None:
            new = arm(
                case_id=case_id,
                kind=kind,
                round_=round_,
                attempt=attempt,
                assignee=assignee,
                cls=cls,
                started_at=round_started_at,
                paused_at=paused_at,
                policies=policies,
            )
            changes.append(Change(new, "armed"))
        elif current.running and current.assignee != assignee:
            # The resident-facing deadline keeps running from submission; only who is chased changes.
            changes.append(Change(replace(current, assignee=assignee, attempt=attempt), "reassigned"))
    return changes


def on_signed(deadlines: Sequence[Deadline], *, attempt: int, at: datetime, policies: Policies) -> list[Change]:
    """Sign-for (签收) stops that attempt's response clock."""
    running = _running(deadlines, "response")
    target = next((d for d in running if d.attempt == attempt), running[-1] if running else None)
    return [stop(target, at, "signed", policies)] if target else []


def on_declined(deadlines: Sequence[Deadline], *, attempt: int, at: datetime, policies: Policies) -> list[Change]:
    """A decline (退单) cancels that attempt's response clock; the next routing arms a new one."""
    return [stop(d, at, "declined", policies) for d in _running(deadlines, "response") if d.attempt == attempt]


def on_progress(deadlines: Sequence[Deadline], *, round_: int, at: datetime, policies: Policies) -> list[Change]:
    """The first progress report stops the round's first-feedback clock."""
    return [stop(d, at, "progress", policies) for d in _running(deadlines, "first_feedback") if d.round == round_]


def on_resolved(deadlines: Sequence[Deadline], *, round_: int, at: datetime, policies: Policies) -> list[Change]:
    """Resolving stops the round's resolution clock, and feedback / sign-for clocks still running."""
    return [
        stop(d, at, "resolved", policies)
        for d in _running(deadlines, "response", "first_feedback", "resolution")
        if d.kind == "response" or d.round == round_
    ]


def on_paused(deadlines: Sequence[Deadline], *, at: datetime) -> list[Change]:
    """Waiting on the resident pauses every running clock."""
    return [
        Change(replace(d, status="paused", paused_at=at, due_at=None), "paused")
        for d in deadlines
        if d.status == "armed"
    ]


def on_resumed(deadlines: Sequence[Deadline], *, at: datetime, policies: Policies) -> list[Change]:
    """The wait is over: paused clocks run again, their deadlines pushed back by the pause."""
    changes = []
    for d in deadlines:
        if d.status == "paused" and d.paused_at is not None:
            span = (d.paused_at, max(at, d.paused_at))
            resumed = replace(d, status="armed", paused_at=None, pauses=(*d.pauses, span))
            changes.append(Change(with_due(resumed, policies), "resumed"))
    return changes


def on_priority(deadlines: Sequence[Deadline], *, cls: SlaClass, policies: Policies) -> list[Change]:
    """A new priority (class) recomputes every running clock from its original start."""
    changes = []
    for d in deadlines:
        if not d.running:
            continue
        duration, calendar = Policies.window(cls, d.kind)
        if (duration, calendar, cls.code) == (d.duration, d.calendar, d.sla_class):
            continue
        updated = replace(d, duration=duration, calendar=calendar, sla_class=cls.code)
        changes.append(Change(with_due(updated, policies), "recomputed"))
    return changes


def on_reopened(
    deadlines: Sequence[Deadline],
    *,
    case_id: str,
    round_: int,
    attempt: int,
    assignee: Assignee,
    cls: SlaClass,
    at: datetime,
    paused_at: datetime | None,
    policies: Policies,
) -> list[Change]:
    """A reopen starts a new round: fresh first-feedback and resolution clocks from the reopen."""
    changes = [stop(d, at, "superseded", policies) for d in deadlines if d.running and d.round < round_]
    for kind in ROUND_KINDS:
        if _find(deadlines, kind, round_) is None:
            new = arm(
                case_id=case_id,
                kind=kind,
                round_=round_,
                attempt=attempt,
                assignee=assignee,
                cls=cls,
                started_at=at,
                paused_at=paused_at,
                policies=policies,
            )
            changes.append(Change(new, "armed"))
    return changes


def on_closed(deadlines: Sequence[Deadline], *, at: datetime, policies: Policies) -> list[Change]:
    """Closing the case cancels whatever still runs."""
    return [stop(d, at, "closed", policies) for d in deadlines if d.running]
