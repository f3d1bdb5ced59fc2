"""The case projection as pure rules: apply one event to a case's state, robust to out-of-order delivery.

Each aspect of a case (status, assignee, each SLA deadline) remembers the event time that last
set it; an older event arriving late never overwrites a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.events import Assignee, EventData
from shared.events.intake import DuplicateLinked, FeedbackReceived, NeedSubmitted
from shared.events.routing import (
    ArbitrationRequested,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseRouted,
    MemberAssigned,
    PriorityChanged,
)
from shared.events.sla import CaseEscalated, DeadlineArmed, DeadlineBreached, DeadlineStopped, DeadlineWarning
from shared.events.status import CaseStatus, status_change

ESCALATION_ORDER = ("remind", "supervise", "district")
SLA_STATES = ("on_track", "warning", "breached")
# Dashboard-facing SLA state of a case: the worst of its running deadlines.
SLA_RANK = {"none": 0, "met": 0, "missed": 0, "paused": 0, "on_track": 1, "warning": 2, "breached": 3}


@dataclass
class CaseState:
    """What notify knows about one case."""

    case_id: str
    status: str = "submitted"
    status_at: datetime | None = None
    category: str | None = None
    description: str | None = None
    community: str | None = None
    street: str | None = None
    grid: str | None = None
    priority: str | None = None
    sla_class: str | None = None
    vulnerable: bool = False
    submitted_at: datetime | None = None
    assignee: Assignee | None = None
    assignee_at: datetime | None = None
    attempt: int = 0
    co_handlers: list[Assignee] = field(default_factory=list)
    previous: list[Assignee] = field(default_factory=list)
    member: str | None = None
    # kind -> {"state", "due_at", "at", "attempt", "fraction", "escalation"} (JSON-able)
    deadlines: dict[str, dict[str, Any]] = field(default_factory=dict)
    reporter_count: int = 1
    decline_count: int = 0
    round: int = 1
    last_note: str | None = None
    satisfaction: str | None = None
    closed_at: datetime | None = None
    last_event_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    @property
    def sla_state(self) -> str:
        """The worst state among running deadlines: breached > warning > on_track; else none."""
        worst = "none"
        for d in self.deadlines.values():
            if SLA_RANK.get(d["state"], 0) > SLA_RANK[worst]:
                worst = d["state"]
        return worst

    @property
    def escalation(self) -> str | None:
        """The highest escalation step reached on any deadline (催办 < 督办 < district)."""
        levels = [d["escalation"] for d in self.deadlines.values() if d.get("escalation")]
        return max(levels, key=ESCALATION_ORDER.index) if levels else None

    @property
    def due_at(self) -> datetime | None:
        """The earliest due time among deadlines still running."""
        dues = [
            datetime.fromisoformat(d["due_at"])
            for d in self.deadlines.values()
            if d.get("due_at") and d["state"] in SLA_STATES
        ]
        return min(dues) if dues else None

    def owners(self) -> list[Assignee]:
        """The current assignee and co-handlers."""
        out = [self.assignee] if self.assignee else []
        return out + [c for c in self.co_handlers if c not in out]


def _newer(at: datetime, than: datetime | None) -> bool:
    return than is None or at >= than


def _set_status(state: CaseState, status: CaseStatus, at: datetime) -> None:
    if _newer(at, state.status_at):
        state.status = status
        state.status_at = at


def _facts(state: CaseState, e: NeedSubmitted | CaseRouted) -> None:
    """Descriptive facts: first writer fills, later ones refresh (they do not conflict)."""
    state.category = e.category if e.category is not None else state.category
    state.description = e.description
    state.community = e.community
    state.street = e.street
    state.grid = e.grid or state.grid
    state.priority = state.priority or e.priority
    state.vulnerable = state.vulnerable or e.vulnerable
    state.submitted_at = e.submitted_at


def _deadline(case: CaseState, kind: str, at: datetime, **changes: Any) -> None:
    current = case.deadlines.get(kind)
    if current is not None and not _newer(at, datetime.fromisoformat(current["at"])):
        return
    base = dict(current or {"state": "on_track", "due_at": None, "escalation": None})
    base.update(changes, at=at.isoformat())
    case.deadlines[kind] = base


def apply(state: CaseState, payload: EventData, *, event_time: datetime) -> CaseState:
    """The state after one event (a new object; `state` is not changed)."""
    s = replace(
        state,
        co_handlers=list(state.co_handlers),
        previous=list(state.previous),
        deadlines={k: dict(v) for k, v in state.deadlines.items()},
    )
    s.last_event_at = max(filter(None, (s.last_event_at, event_time)))
    # The status comes from shared's one mapping (MemberAssigned → in_progress, as intake has it).
    if (change := status_change(payload)) is not None:
        _set_status(s, change.status, change.at)
    match payload:
        case NeedSubmitted():
            _facts(s, payload)
        case DuplicateLinked():
            s.reporter_count = max(s.reporter_count, payload.reporter_count)
        case CaseRouted():
            _facts(s, payload)
            if payload.sla_class:
                s.sla_class = payload.sla_class
            if _newer(payload.routed_at, s.assignee_at):
                s.assignee, s.assignee_at, s.attempt = payload.assignee, payload.routed_at, payload.attempt
                s.co_handlers = list(payload.co_handlers)
                s.previous = list(payload.previous_assignees)
                s.member = None
        case CaseDeclined():
            s.decline_count = max(s.decline_count, payload.decline_count)
            s.last_note = payload.reason_text or payload.reason_code
        case ArbitrationRequested():
            s.street = s.street or payload.street
        case CaseProgressed():
            s.last_note = payload.note
        case MemberAssigned():
            s.member = payload.member
        case PriorityChanged():
            s.priority = payload.priority
            s.sla_class = payload.sla_class or s.sla_class
        case CaseResolved():
            s.last_note = payload.note
            s.round = max(s.round, payload.round)
        case CaseReopened():
            s.round = max(s.round, payload.round)
            if _newer(payload.reopened_at, s.assignee_at):
                s.assignee, s.assignee_at = payload.assignee, payload.reopened_at
        case CaseClosed():
            s.closed_at = payload.closed_at
        case FeedbackReceived():
            s.satisfaction = payload.satisfaction
        case DeadlineArmed():
            state_ = "on_track" if payload.due_at is not None else "paused"
            due = payload.due_at.isoformat() if payload.due_at else None
            same_attempt = s.deadlines.get(payload.kind, {}).get("attempt") == payload.attempt
            escalation = s.deadlines.get(payload.kind, {}).get("escalation") if same_attempt else None
            _deadline(
                s,
                payload.kind,
                payload.started_at,
                state=state_,
                due_at=due,
                attempt=payload.attempt,
                escalation=escalation,
            )
        case DeadlineWarning():
            _deadline(s, payload.kind, payload.at, state="warning", fraction=payload.fraction)
        case DeadlineBreached():
            _deadline(s, payload.kind, payload.breached_at, state="breached", due_at=payload.due_at.isoformat())
        case CaseEscalated():
            current = s.deadlines.get(payload.kind, {}).get("escalation")
            if current is None or ESCALATION_ORDER.index(payload.level) > ESCALATION_ORDER.index(current):
                s.deadlines.setdefault(
                    payload.kind, {"state": "breached", "due_at": None, "at": payload.at.isoformat()}
                )["escalation"] = payload.level
        case DeadlineStopped():
            _deadline(s, payload.kind, payload.stopped_at, state="met" if payload.met else "missed")
    return s
