"""Events routing publishes on `routing.events` (and the catalogue's on `catalogue.events`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.events.common import Assignee
from shared.events.envelope import EventData, register
from shared.events.facts import CaseFacts

DeclineReason = Literal["not_our_area", "unclear_ownership", "overlapping_duties", "other"]


@register
class CaseRouted(CaseFacts):
    """A case was given to an assignee; carries what the assignee needs to act and why it was chosen."""

    TYPE = "lastmeter.case.routed"
    VERSION = 1

    priority: str = "normal"
    vulnerable: bool = False
    pairing_id: str | None = None
    assignee: Assignee
    # The paired volunteer (member code, never a name) when the paired resident's team was chosen.
    member: str | None = None
    co_handlers: list[Assignee] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    previous_assignees: list[Assignee] = Field(default_factory=list)
    attempt: int = 1
    # rules: the catalogue decided; arbitration: the street office decided (final, no further decline).
    decided_by: Literal["rules", "arbitration", "triage"] = "rules"
    final: bool = False
    sla_class: str | None = None
    submitted_at: datetime
    routed_at: datetime


@register
class CaseSigned(EventData):
    """The assignee signed for the case (签收): the response clock stops."""

    TYPE = "lastmeter.case.signed"
    VERSION = 1

    case_id: str
    assignee: Assignee
    attempt: int = 1
    signed_at: datetime


@register
class CaseDeclined(EventData):
    """The assignee declined the case (退单) with a reason; routing re-routes or sends it to arbitration."""

    TYPE = "lastmeter.case.declined"
    VERSION = 1

    case_id: str
    assignee: Assignee
    attempt: int = 1
    reason_code: DeclineReason
    reason_text: str | None = None
    decline_count: int = Field(ge=1)
    declined_at: datetime


@register
class ArbitrationRequested(EventData):
    """Repeated declines or no candidate left: the street office decides (final)."""

    TYPE = "lastmeter.case.arbitration_requested"
    VERSION = 1

    case_id: str
    street: str
    reason: str
    previous_assignees: list[Assignee] = Field(default_factory=list)
    decline_count: int = 0
    category: str | None = None
    community: str | None = None
    priority: str = "normal"
    requested_at: datetime


@register
class CaseProgressed(EventData):
    """The assignee reported progress; the first one stops the first-feedback clock."""

    TYPE = "lastmeter.case.progress"
    VERSION = 1

    case_id: str
    assignee: Assignee
    note: str
    # What staff chose to tell the public (Open311 status_notes); `note` stays between staff.
    public_note: str | None = None
    first_feedback: bool = False
    at: datetime


@register
class MemberAssigned(EventData):
    """A volunteer team lead gave the case to one member."""

    TYPE = "lastmeter.case.member_assigned"
    VERSION = 1

    case_id: str
    team: str
    member: str
    at: datetime


@register
class CaseAwaitingResident(EventData):
    """The assignee waits on the resident (information, access): SLA clocks pause."""

    TYPE = "lastmeter.case.awaiting_resident"
    VERSION = 1

    case_id: str
    assignee: Assignee
    note: str | None = None
    at: datetime


@register
class CaseResumed(EventData):
    """The wait on the resident is over: SLA clocks resume."""

    TYPE = "lastmeter.case.resumed"
    VERSION = 1

    case_id: str
    assignee: Assignee
    at: datetime


@register
class PriorityChanged(EventData):
    """The case's priority changed: SLA recomputes its deadlines."""

    TYPE = "lastmeter.case.priority_changed"
    VERSION = 1

    case_id: str
    priority: str
    sla_class: str | None = None
    at: datetime


@register
class CaseResolved(EventData):
    """The assignee resolved the case with a note; the resident is asked for feedback (回访)."""

    TYPE = "lastmeter.case.resolved"
    VERSION = 1

    case_id: str
    assignee: Assignee
    note: str
    public_note: str | None = None  # as on CaseProgressed
    round: int = 1
    resolved_at: datetime


@register
class CaseReopened(EventData):
    """Dissatisfied or unsolved at the callback: back to the last assignee, escalated."""

    TYPE = "lastmeter.case.reopened"
    VERSION = 1

    case_id: str
    assignee: Assignee
    round: int = Field(ge=2)
    reason: str
    escalated: bool = True
    reopened_at: datetime


@register
class CaseClosed(EventData):
    """The case is finished: confirmed at the callback (or closed by the street office)."""

    TYPE = "lastmeter.case.closed"
    VERSION = 1

    case_id: str
    assignee: Assignee | None = None
    solved: bool
    closed_at: datetime


@register
class CatalogueChanged(EventData):
    """A new catalogue version took effect; carries the whole catalogue so services apply it without restart."""

    TYPE = "lastmeter.catalogue.changed"
    VERSION = 1

    version: int
    fingerprint: str
    catalogue: dict[str, Any]
    changed_by: str
    changed_at: datetime
