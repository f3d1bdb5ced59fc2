"""Events intake publishes on `intake.events`. No names, phone numbers or e-mail: those stay in intake."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventData, register
from shared.events.facts import CaseFacts

ReporterKind = Literal["resident", "grid_worker", "hotline", "survey", "proactive"]
Priority = Literal["emergency", "high", "normal", "low"]
Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class CategoryScore(BaseModel):
    """One candidate category from text classification."""

    model_config = ConfigDict(extra="forbid")

    code: str
    confidence: float = Field(ge=0, le=1)


class Classification(BaseModel):
    """How intake chose the category when the reporter gave only text."""

    model_config = ConfigDict(extra="forbid")

    confidence: float = Field(ge=0, le=1)
    candidates: list[CategoryScore] = Field(default_factory=list)


@register
class NeedSubmitted(CaseFacts):
    """A new case was opened. `category` is None when classification was unsure: the street office triages it."""

    TYPE = "lastmeter.need.submitted"
    VERSION = 1

    reporter_kind: ReporterKind = "resident"
    priority: Priority = "normal"
    vulnerable: bool = False
    pairing_id: str | None = None
    language: str = "zh"
    classification: Classification | None = None
    submitted_at: datetime


@register
class DuplicateLinked(EventData):
    """Another report of an open case arrived and was linked to it instead of opening a new case."""

    TYPE = "lastmeter.need.duplicate_linked"
    VERSION = 1

    case_id: str  # the open (original) case
    submission_id: str  # the new report's own id
    reporter_kind: ReporterKind = "resident"
    reporter_count: int = Field(ge=2)
    linked_at: datetime


@register
class FeedbackReceived(EventData):
    """The resident answered the callback (回访). `reopen` when not solved or dissatisfied."""

    TYPE = "lastmeter.case.feedback_received"
    VERSION = 1

    case_id: str
    round: int = Field(ge=1)
    solved: bool
    satisfaction: Satisfaction
    comment: str | None = None
    reopen: bool
    received_at: datetime
