"""Events intake publishes on `intake.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from shared.events.common import Location
from shared.events.envelope import EventData, register

ReporterKind = Literal["resident", "grid_worker", "hotline", "survey", "proactive"]
Priority = Literal["emergency", "high", "normal", "low"]


@register
class NeedSubmitted(EventData):
    """A new case was opened. No names or phone numbers: those stay in intake."""

    TYPE = "lastmeter.need.submitted"
    VERSION = 1

    case_id: str
    category: str | None
    description: str
    community: str
    street: str
    grid: str | None = None
    location: Location | None = None
    address: str | None = None
    reporter_kind: ReporterKind = "resident"
    priority: Priority = "normal"
    vulnerable: bool = False
    pairing_id: str | None = None
    language: str = "zh"
    submitted_at: datetime
