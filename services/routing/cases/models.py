"""Routing's API bodies and views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.events import Assignee, Location
from shared.events.intake import Priority
from shared.events.routing import DeclineReason
from shared.text import CleanModel

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
PublicNote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class _In(CleanModel):
    """Every body: unknown fields refused, every string through the one cleaning rule (shared/text.py)."""

    model_config = ConfigDict(extra="forbid")


class DeclineIn(_In):
    """A decline (退单): a reason code; `other` needs a reason text."""

    reason_code: DeclineReason
    reason_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class NoteIn(_In):
    """A step that needs a note (progress, resolution); `public_note` is what the public may read."""

    note: Note
    public_note: PublicNote | None = Field(
        None,
        description="shown on public Open311 reads as status_notes (never for a vulnerable resident's case); "
        "`note` stays between staff",
    )


class OptionalNoteIn(_In):
    """A step with an optional note."""

    note: Note | None = None


class MemberIn(_In):
    """The team member (member code from the catalogue) who takes the case."""

    member: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class PriorityIn(_In):
    """A new priority for the case."""

    priority: Priority
    note: Note | None = None


class ArbitrateIn(_In):
    """The street office's final decision: who takes the case."""

    assignee: Assignee
    note: Note | None = None


class TriageIn(_In):
    """The street office classifies an untriaged case; routing then decides by the rules."""

    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    note: Note | None = None


class DecisionView(BaseModel):
    """One routing decision and its reasons."""

    attempt: int
    assignee: Assignee
    co_handlers: list[Assignee]
    member: str | None
    reasons: list[str]
    decided_by: str
    final: bool
    decided_at: datetime


class DeclineView(BaseModel):
    """One decline."""

    attempt: int
    assignee: Assignee
    reason_code: str
    reason_text: str | None
    declined_at: datetime


class StepView(BaseModel):
    """One workflow step."""

    round: int
    action: str
    actor: str
    note: str | None
    at: datetime


class CaseSummary(BaseModel):
    """A case in a work list."""

    case_id: str
    status: str
    category: str | None
    description: str
    community: str
    street: str
    priority: str
    assignee: Assignee | None
    co_handlers: list[Assignee]
    member: str | None
    attempt: int
    decided_by: str
    final: bool
    decline_count: int
    round: int
    submitted_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    first_feedback_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class CaseView(CaseSummary):
    """A case with where it is, and its whole decision history with reasons."""

    grid: str | None
    address: str | None
    location: Location | None
    vulnerable: bool
    pairing_id: str | None
    decisions: list[DecisionView]
    declines: list[DeclineView]
    steps: list[StepView]


class CaseList(BaseModel):
    """A page of cases."""

    items: list[CaseSummary]
    limit: int
    offset: int
