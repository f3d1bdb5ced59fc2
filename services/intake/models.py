"""Intake's API models: what residents and operators send and get back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Assignee, Location
from shared.events.intake import Priority, ReporterKind


class Reporter(BaseModel):
    """Who reports; contact details never leave intake."""

    model_config = ConfigDict(extra="forbid")

    kind: ReporterKind = "resident"
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=40, pattern=r"^[0-9+\-() ]{3,40}$")
    email: str | None = Field(None, max_length=254)


class NeedIn(BaseModel):
    """A need as submitted through the native API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=4000)
    community: str = Field(min_length=1, max_length=64)
    grid: str | None = Field(None, max_length=64)
    location: Location | None = None
    address: str | None = Field(None, max_length=500)
    reporter: Reporter = Field(default_factory=Reporter)
    priority: Priority = "normal"
    vulnerable: bool = False
    pairing_id: str | None = Field(None, max_length=64)
    language: Literal["zh", "en"] = "zh"


class NeedAccepted(BaseModel):
    """The answer to a submission: keep the access token to follow the case."""

    case_id: str
    status: str
    access_token: str


class TimelineEntry(BaseModel):
    at: datetime
    status: str
    note: str | None = None


class CaseView(BaseModel):
    """A case as its resident, its assignee or the street office sees it."""

    case_id: str
    status: str
    category: str | None
    description: str
    community: str
    street: str
    grid: str | None
    location: Location | None
    address: str | None
    priority: str
    vulnerable: bool
    reporter_kind: str
    assigned_to: Assignee | None
    submitted_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]


class CatalogueEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    name: str
    name_en: str | None = None
