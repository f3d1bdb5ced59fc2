"""The one case-status vocabulary and the one event → status mapping every service reads. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from shared.events.common import Assignee
from shared.events.envelope import EventData
from shared.events.intake import DuplicateLinked, FeedbackReceived, NeedSubmitted
from shared.events.routing import (
    ArbitrationRequested,
    CaseAwaitingResident,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseResumed,
    CaseRouted,
    CaseSigned,
    CatalogueChanged,
    MemberAssigned,
    PriorityChanged,
)
from shared.events.sla import CaseEscalated, DeadlineArmed, DeadlineBreached, DeadlineStopped, DeadlineWarning

CaseStatus = Literal[
    "submitted",
    "routed",
    "signed",
    "declined",
    "arbitration",
    "in_progress",
    "awaiting_resident",
    "resolved",
    "reopened",
    "closed",
]
STATUSES: tuple[CaseStatus, ...] = get_args(CaseStatus)
# Open311 knows only open and closed. A resolved case counts as closed even while the callback
# (回访) is pending: the work is done; a dissatisfied answer reopens it.
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "closed"})
OPEN_STATUSES: frozenset[str] = frozenset(STATUSES) - CLOSED_STATUSES

# Every registered event type → the status it sets, or None when it says something else about the
# case (deadlines, links, priority). Each type is listed on purpose: tests/unit/test_event_registry.py
# fails for a type missing here, so a new event cannot be dropped silently.
STATUS_OF: Mapping[type[EventData], CaseStatus | None] = {
    NeedSubmitted: "submitted",
    DuplicateLinked: None,
    FeedbackReceived: None,  # a dissatisfied answer reopens through routing's CaseReopened
    CaseRouted: "routed",
    CaseSigned: "signed",
    CaseDeclined: "declined",
    ArbitrationRequested: "arbitration",
    CaseProgressed: "in_progress",
    MemberAssigned: "in_progress",
    CaseAwaitingResident: "awaiting_resident",
    CaseResumed: "in_progress",
    PriorityChanged: None,
    CaseResolved: "resolved",
    CaseReopened: "reopened",
    CaseClosed: "closed",
    CatalogueChanged: None,
    DeadlineArmed: None,
    DeadlineWarning: None,
    DeadlineBreached: None,
    CaseEscalated: None,
    DeadlineStopped: None,
}
# The assignee's work on a case, as routing publishes it: what intake's timeline follows.
WORK_EVENTS: tuple[type[EventData], ...] = tuple(
    model for model, status in STATUS_OF.items() if status is not None and model.__module__ == CaseRouted.__module__
)


def open311_status(status: str) -> Literal["open", "closed"]:
    """lastmeter status → Open311 `status`."""
    return "closed" if status in CLOSED_STATUSES else "open"


def is_open(status: str) -> bool:
    """Whether a case still counts as open (for duplicates and Open311)."""
    return status not in CLOSED_STATUSES


@dataclass(frozen=True)
class StatusChange:
    """What one event does to a case's status, stamped with the time it happened."""

    status: CaseStatus
    at: datetime
    note: str | None = None  # timeline text
    status_note: str | None = None  # the assignee's own words, Open311 status_notes for staff
    public_note: str | None = None  # what staff marked public, the public's Open311 status_notes
    actor: Assignee | None = None  # who acted, for the timeline
    assignee: Assignee | None = None  # set when the event names a (new) responsible party
    resolved_round: int | None = None


def status_change(event: EventData) -> StatusChange | None:
    """The status change an event stands for; None for events that change no status."""
    match event:
        case NeedSubmitted():
            return StatusChange("submitted", event.submitted_at)
        case CaseRouted():
            return StatusChange("routed", event.routed_at, actor=event.assignee, assignee=event.assignee)
        case CaseSigned():
            return StatusChange("signed", event.signed_at, actor=event.assignee, assignee=event.assignee)
        case CaseDeclined():
            # Only the reason code: the free text is between the department and the street office.
            return StatusChange("declined", event.declined_at, note=event.reason_code, actor=event.assignee)
        case ArbitrationRequested():
            office = Assignee(kind="street_office", code=event.street)
            return StatusChange("arbitration", event.requested_at, actor=office, assignee=office)
        case CaseProgressed():
            return StatusChange(
                "in_progress",
                event.at,
                note=event.note,
                status_note=event.note,
                public_note=event.public_note,
                actor=event.assignee,
            )
        case MemberAssigned():
            # The member code is a volunteer code from the catalogue, never a name.
            team = Assignee(kind="team", code=event.team)
            return StatusChange("in_progress", event.at, note=f"member:{event.member}", actor=team)
        case CaseAwaitingResident():
            return StatusChange(
                "awaiting_resident", event.at, note=event.note, status_note=event.note, actor=event.assignee
            )
        case CaseResumed():
            return StatusChange("in_progress", event.at, actor=event.assignee)
        case CaseResolved():
            return StatusChange(
                "resolved",
                event.resolved_at,
                note=event.note,
                status_note=event.note,
                public_note=event.public_note,
                actor=event.assignee,
                resolved_round=event.round,
            )
        case CaseReopened():
            return StatusChange(
                "reopened", event.reopened_at, note=event.reason, actor=event.assignee, assignee=event.assignee
            )
        case CaseClosed():
            return StatusChange("closed", event.closed_at, note="solved" if event.solved else "unsolved")
    return None
