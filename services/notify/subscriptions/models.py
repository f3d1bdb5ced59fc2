"""Subscriptions' request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.notify.channels import CHANNELS
from shared.text import CleanModel


def _registered(name: str) -> str:
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; valid: {', '.join(CHANNELS)}")
    return name


# Checked against the channel registry, not a fixed list: a new channel needs no change here.
ChannelName = Annotated[
    str,
    AfterValidator(_registered),
    Field(json_schema_extra=lambda schema: schema.update(enum=list(CHANNELS))),
]


class ScopeIn(CleanModel):
    """What to hear about: `all` (admin only), a street, a department, a team or one case."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["all", "street", "department", "team", "case"]
    code: str = Field("", max_length=64)


class SubscriptionIn(CleanModel):
    """A new subscription. `target` is the webhook URL (staff keys only), e-mail address or phone number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: ChannelName
    target: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=256, description="webhook signing secret")
    event_types: list[str] = Field(default_factory=list, max_length=50, description="types or prefixes ending in *")
    scope: ScopeIn | None = Field(None, description="defaults to the caller's own scope")
    language: Literal["zh", "en"] = "zh"
    description: str | None = Field(None, max_length=200)


class ConfirmIn(CleanModel):
    """The code the SMS or e-mail target received."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=16)


class SubscriptionOut(BaseModel):
    """A subscription as its owner sees it; the webhook secret is never shown again."""

    id: str
    channel: str
    target: str
    event_types: list[str]
    scope: ScopeIn
    language: str
    active: bool
    confirmed: bool = Field(description="SMS and e-mail: false until the code sent to the target comes back")
    secret_set: bool
    created_at: datetime
    description: str | None = None
