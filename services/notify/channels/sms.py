"""SMS behind a provider interface; the development provider records messages in a table."""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar, Protocol

from services.notify.channels.base import ChannelEnv, Delivery, Outcome, RecordSms, Sender
from services.notify.templates import Message
from shared.auth import Principal
from shared.errors import InvalidInput

# One SMS segment of Chinese text is 70 characters; longer bodies are cut rather than split.
SMS_MAX_CHARS = 140
PHONE = re.compile(r"^\+?[0-9]{6,15}$")


class SmsProvider(Protocol):
    """Anything that sends a text message to a phone number."""

    async def send(self, *, phone: str, body: str, delivery_id: int | None, now: datetime) -> Outcome: ...


class DevSmsProvider:
    """Records messages in `sms_messages` instead of sending them (dev, test, demos)."""

    def __init__(self, record: RecordSms) -> None:
        self._record = record

    async def send(self, *, phone: str, body: str, delivery_id: int | None, now: datetime) -> Outcome:
        """Record one message; `delivery_id` is None for a confirmation code (not a delivery)."""
        await self._record(phone=phone, body=body[:SMS_MAX_CHARS], delivery_id=delivery_id, now=now)
        return Outcome(True, "delivered")


def make_provider(name: str, record: RecordSms) -> SmsProvider:
    """The provider named in settings; only `dev` ships, a real gateway implements SmsProvider."""
    if name == "dev":
        return DevSmsProvider(record)
    raise ValueError(f"unknown SMS provider {name!r}; available: dev")


class SmsSender:
    """Sends the rendered message's subject line through the configured provider."""

    def __init__(self, env: ChannelEnv) -> None:
        self._provider = make_provider(env.settings.sms_provider, env.record_sms)
        self._now = env.now

    async def deliver(self, delivery: Delivery, message: Message | None) -> Outcome:
        if message is None:
            return Outcome(False, "error", error="nothing to say: SMS needs a rendered message", retry=False)
        return await self._provider.send(
            phone=delivery.target, body=message.subject, delivery_id=delivery.id, now=self._now()
        )

    async def aclose(self) -> None:
        return None


class SmsChannel:
    """SMS: a contact target, confirmed with a code first."""

    name: ClassVar[str] = "sms"
    confirms: ClassVar[bool] = True
    signs: ClassVar[bool] = False
    renders: ClassVar[bool] = True

    async def validate_target(self, target: str, *, principal: Principal, secret: str | None, env: ChannelEnv) -> str:
        phone = target.replace(" ", "").replace("-", "")
        if not PHONE.match(phone):
            raise InvalidInput("target", "not a phone number (digits, optional leading +)")
        return phone

    def mask(self, target: str) -> str:
        return f"{target[:3]}****{target[-4:]}"

    def destination(self, target: str) -> str:
        return self.name

    def sender(self, env: ChannelEnv) -> Sender:
        return SmsSender(env)
