"""The needs API's bodies: a submission and its answer, a case as its caller sees it, catalogue entries, classify."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.intake.text_rules import FieldError, clean_description, clean_text
from shared.events import Assignee, Location
from shared.events.intake import Classification, Priority, ReporterKind, Satisfaction
from shared.text import CleanModel


def _short_text(value: str | None, field: str, max_len: int) -> str | None:
    """Blank → None; otherwise one clean line (no control characters) or a ValueError naming why."""
    if value is None or not value.strip():
        return None
    try:
        return clean_text(value, field=field, max_len=max_len)
    except FieldError as exc:
        raise ValueError(exc.message) from None


class Reporter(CleanModel):
    """Who reports; contact details never leave intake."""

    model_config = ConfigDict(extra="forbid")

    kind: ReporterKind = "resident"
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+\-() ]{3,40}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _short_text(value, "name", 100)


class NeedIn(CleanModel):
    """A need as submitted through the native API. Without `category` intake classifies the description.

    Every string, codes included, goes through the one cleaning rule (shared/text.py).
    """

    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(None, min_length=1, max_length=64, description="catalogue code; omit to classify")
    description: str = Field(description="what is wrong, 1-4,000 characters")
    grid: str | None = Field(None, max_length=64)
    location: Location | None = None
    address: str | None = Field(None, max_length=500)
    address_id: str | None = Field(None, max_length=64)
    # Declared after grid, location and address so its check sees them (pydantic validates in order).
    community: str | None = Field(
        None, max_length=64, validate_default=True, description="community code or name (or give grid / location)"
    )
    reporter: Reporter = Field(default_factory=Reporter)
    priority: Priority = "normal"
    vulnerable: bool = False
    pairing_id: str | None = Field(None, max_length=64, description="pairing (结对) code; implies vulnerable")
    language: Literal["zh", "en"] = "zh"
    force_new: bool = Field(False, description="grid workers only: open a new case even if it looks like a duplicate")

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        try:
            return clean_description(value)
        except FieldError as exc:
            raise ValueError(exc.message) from None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return _short_text(value, "address", 500)

    @field_validator("category", "grid", "pairing_id", "address_id")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else value.strip()

    @field_validator("community")
    @classmethod
    def _community(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = None if value is None or not value.strip() else value.strip()
        placed = any(info.data.get(name) for name in ("grid", "location", "address"))
        if value is None and not placed:
            raise ValueError("required: give community, grid, location or an address naming the community")
        return value


class NeedAccepted(BaseModel):
    """The answer to a submission: keep the access token to follow the case."""

    case_id: str
    status: str
    access_token: str
    linked: bool = False
    duplicate_of: str | None = None
    reporter_count: int = 1
    category: str | None = None
    classification: Classification | None = None


class TimelineEntry(BaseModel):
    """One step of a case as the resident sees it."""

    at: datetime
    status: str
    note: str | None = None
    actor: str | None = None


class FeedbackView(BaseModel):
    """One callback (回访) answer."""

    round: int
    solved: bool
    satisfaction: Satisfaction
    comment: str | None = None
    reopen: bool
    received_at: datetime
    counted: bool = Field(True, description="the round's first answer: it decided reopen/close and counts in the rates")


class CaseView(BaseModel):
    """A case as its resident, its assignee or the street office sees it."""

    case_id: str
    status: str
    open311_status: Literal["open", "closed"]
    category: str | None
    classification: Classification | None = None
    description: str
    community: str
    street: str
    grid: str | None
    location: Location | None
    address: str | None
    priority: str
    vulnerable: bool
    reporter_kind: str
    reporter_count: int
    assigned_to: Assignee | None
    status_notes: str | None
    expected_at: datetime | None
    submitted_at: datetime
    updated_at: datetime
    feedback_round: int | None = Field(None, description="callback round awaiting an answer, if any")
    feedback: list[FeedbackView] = Field(default_factory=list)
    timeline: list[TimelineEntry]
    contact: dict[str, str] | None = Field(
        None, description="staff in scope see the case's; a reporter sees only their own, never another reporter's"
    )


class CatalogueEntry(BaseModel):
    """A category or community as the public sees it."""

    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    name_en: str | None = None


class ClassifyIn(CleanModel):
    """Text to classify (a preview: nothing is stored)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class ClassifyOut(BaseModel):
    """The category intake would assign, or None (→ street office triage), with the candidates."""

    category: str | None
    classification: Classification
