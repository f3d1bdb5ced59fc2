"""The catalogue API's views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CatalogueView(BaseModel):
    """The catalogue in force."""

    version: int
    fingerprint: str
    catalogue: dict[str, Any]


class CatalogueChangeView(BaseModel):
    """The outcome of a catalogue change."""

    changed: bool
    version: int
    fingerprint: str
    summary: dict[str, Any] = Field(default_factory=dict)


class CatalogueVersionView(BaseModel):
    """One stored catalogue version."""

    version: int
    fingerprint: str
    changed_by: str | None
    changed_at: datetime | None
    summary: dict[str, Any]
