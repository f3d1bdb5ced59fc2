"""Events sla publishes on `sla.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.events.common import Assignee
from shared.events.envelope import EventData, register

DeadlineKind = Literal["response", "first_feedback", "resolution"]


@register
class DeadlineArmed(EventData):
    """A deadline started running for a case."""

    TYPE = "lastmeter.sla.deadline_armed"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    assignee: Assignee | None = None
    sla_class: str | None = None
    started_at: datetime
    due_at: datetime
