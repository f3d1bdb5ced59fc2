"""Events routing publishes on `routing.events`."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.events.common import Assignee, Location
from shared.events.envelope import EventData, register


@register
class CaseRouted(EventData):
    """A case was given to an assignee; carries what the assignee needs to act and why it was chosen."""

    TYPE = "lastmeter.case.routed"
    VERSION = 1

    case_id: str
    category: str | None
    description: str
    community: str
    street: str
    location: Location | None = None
    address: str | None = None
    priority: str = "normal"
    vulnerable: bool = False
    assignee: Assignee
    co_handlers: list[Assignee] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    previous_assignees: list[Assignee] = Field(default_factory=list)
    attempt: int = 1
    sla_class: str | None = None
    submitted_at: datetime
    routed_at: datetime
