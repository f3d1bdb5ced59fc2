"""The residents' page login body."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Credential(BaseModel):
    """A resident's access token or a staff key, sent once in the body (never in a URL)."""

    credential: str = Field(min_length=1, max_length=200)
