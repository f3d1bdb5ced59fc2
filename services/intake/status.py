"""Resident-facing status: what each routing event means for the case, and the Open311 mapping. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from shared.events import Assignee, EventData
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
    MemberAssigned,
)

Status = Literal[
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
STATUSES: tuple[Status, ...] = get_args(Status)
# Open311 knows only open and closed. A resolved case counts as closed even while the callback
# (回访) is pending: the work is done; a dissatisfied answer reopens it.
CLOSED_STATUSES: frozenset[str] = frozenset({"resolved", "closed"})
OPEN_STATUSES: frozenset[str] = frozenset(STATUSES) - CLOSED_STATUSES


def open311_status(status: str) -> Literal["open", "closed"]:
    """lastmeter status → Open311 `status`."""
    return "closed" if status in CLOSED_STATUSES else "open"


def is_open(status: str) -> bool:
    """Whether a case still counts as open (for duplicates and Open311)."""
    return status not in CLOSED_STATUSES


@dataclass(frozen=True)
class StatusChange:
    """What one routing event does to a case, stamped with the time it happened."""

    status: Status
    at: datetime
    note: str | None = None  # timeline text
    status_note: str | None = None  # the assignee's own words, Open311 status_notes for staff
    public_note: str | None = None  # what staff marked public, the public's Open311 status_notes
    actor: Assignee | None = None  # who acted, for the timeline
    assignee: Assignee | None = None  # set when the event names a (new) responsible party
    resolved_round: int | None = None


def change_for(event: EventData) -> StatusChange | None:
    """The status change a routing event stands for; None for events that change no status."""
    match event:
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
