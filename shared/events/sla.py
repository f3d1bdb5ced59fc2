"""Events sla publishes on `sla.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events.common import Assignee
from shared.events.envelope import EventData, register

DeadlineKind = Literal["response", "first_feedback", "resolution"]
EscalationLevel = Literal["remind", "supervise", "district"]
# Why a DeadlineArmed was published: first armed, recomputed (priority change), clocks paused or
# resumed (waiting on the resident), or the same deadline handed to a new assignee.
ArmReason = Literal["armed", "recomputed", "paused", "resumed", "reassigned"]
# Why a clock stopped: the event that met it, or why it no longer applies.
StopReason = Literal["signed", "declined", "progress", "resolved", "superseded", "closed"]


@register
class DeadlineArmed(EventData):
    """A deadline started running (or was recomputed) for a case."""

    TYPE = "lastmeter.sla.deadline_armed"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    attempt: int = 1
    assignee: Assignee | None = None
    sla_class: str | None = None
    calendar: str | None = None
    started_at: datetime
    due_at: datetime | None  # None while paused
    round: int = 1  # resolution round: 1, then +1 per reopen
    reason: ArmReason = "armed"


@register
class DeadlineWarning(EventData):
    """A configured share of a deadline's window has elapsed (e.g. 50 %, 75 %)."""

    TYPE = "lastmeter.sla.warning"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    fraction: float = Field(gt=0, lt=1)
    assignee: Assignee | None = None
    due_at: datetime
    at: datetime
    attempt: int = 1
    round: int = 1


@register
class DeadlineBreached(EventData):
    """A deadline passed unmet. Recorded when it happens, never back-dated."""

    TYPE = "lastmeter.sla.breached"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    assignee: Assignee | None = None
    due_at: datetime
    breached_at: datetime
    attempt: int = 1
    round: int = 1


@register
class CaseEscalated(EventData):
    """An escalation step: reminder to the assignee (催办), supervision by the street office (督办), the district."""

    TYPE = "lastmeter.sla.escalated"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    level: EscalationLevel
    assignee: Assignee | None = None
    target_kind: Literal["department", "team", "street_office", "district"]
    target_code: str
    at: datetime
    due_at: datetime | None = None
    after: float | None = None  # the share of the window elapsed when this step was due (1.5 = 150 %)
    attempt: int = 1
    round: int = 1


@register
class DeadlineStopped(EventData):
    """A deadline's clock stopped: met in time or late."""

    TYPE = "lastmeter.sla.deadline_stopped"
    VERSION = 1

    case_id: str
    kind: DeadlineKind
    met: bool
    due_at: datetime | None
    stopped_at: datetime
    reason: StopReason | None = None
    assignee: Assignee | None = None
    attempt: int = 1
    round: int = 1
