"""Value types that several event payloads share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AssigneeKind = Literal["department", "team", "street_office"]


class Location(BaseModel):
    """A WGS84 point."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Assignee(BaseModel):
    """Who acts on a case: a contracted department, a volunteer team or the street office itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: AssigneeKind
    code: str
