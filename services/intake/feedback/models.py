"""The callback (回访) API's bodies: a reporter's answer and what became of it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake.text_rules import FieldError, clean_text
from shared.events.intake import Satisfaction
from shared.text import CleanModel


class FeedbackIn(CleanModel):
    """The resident's answer to the callback (回访)."""

    model_config = ConfigDict(extra="forbid")

    solved: bool
    satisfaction: Satisfaction
    comment: str | None = Field(None, max_length=1000)

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not value.strip():
            return None
        try:
            return clean_text(value, field="comment", max_len=1000, multiline=True)
        except FieldError as exc:
            raise ValueError(exc.message) from None


class FeedbackAccepted(BaseModel):
    """The callback answer was recorded; `reopen` says whether the case goes back to work."""

    case_id: str
    round: int
    reopen: bool
    counted: bool = Field(True, description="false when another reporter's earlier answer already decided the round")
