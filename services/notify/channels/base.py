"""What every channel implements (`Channel`), what it is handed (`Delivery`, `ChannelEnv`) and returns (`Outcome`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from services.notify.settings import NotifySettings
from services.notify.templates import Message
from services.notify.urlguard import Resolver
from shared.auth import Principal

# Records one text message the development SMS provider "sends" (phone, body, delivery id or None, time).
RecordSms = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """The result of one delivery attempt: what happened and its status, never what the receiver answered."""

    ok: bool
    outcome: str  # delivered | http_error | timeout | connect_error | refused | smtp_error | error
    status_code: int | None = None
    error: str | None = None
    retry: bool = True  # False: retrying cannot help (e.g. the URL is refused)


@dataclass(frozen=True)
class Delivery:
    """One thing to send: a queued delivery of an event, or (id None) a confirmation code."""

    id: int | None
    subscription_id: str
    target: str
    event_type: str = ""
    body: bytes = b""  # the CloudEvents envelope as JSON (empty for a code)
    secret: str | None = None


@dataclass(frozen=True)
class ChannelEnv:
    """What senders may use: settings, the webhook hosts' resolver, the dev SMS table, the clock."""

    settings: NotifySettings
    resolver: Resolver
    record_sms: RecordSms
    now: Callable[[], datetime]


class Sender(Protocol):
    """A channel's sending side, made once per delivery worker (it may hold connection pools)."""

    async def deliver(self, delivery: Delivery, message: Message | None) -> Outcome:
        """Send one; `message` is the rendered text when the channel `renders`, else None."""
        ...

    async def aclose(self) -> None: ...


class Channel(Protocol):
    """A way a notification leaves notify; registered by name in `CHANNELS`."""

    name: ClassVar[str]  # the stored value: "webhook", "email", "sms"
    confirms: ClassVar[bool]  # the target must send back a code before anything else goes to it
    signs: ClassVar[bool]  # the subscription keeps a signing secret
    renders: ClassVar[bool]  # sends the rendered message (else the raw envelope)

    async def validate_target(self, target: str, *, principal: Principal, secret: str | None, env: ChannelEnv) -> str:
        """The target to store, normalised; raises shared.errors (InvalidInput naming `target`, Forbidden)."""
        ...

    def mask(self, target: str) -> str:
        """The target as its owner is shown it (contact details are personal data)."""
        ...

    def destination(self, target: str) -> str:
        """The key per-destination concurrency limits use."""
        ...

    def sender(self, env: ChannelEnv) -> Sender: ...
