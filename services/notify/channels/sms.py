"""SMS behind a provider interface; the development provider records messages in a table."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import asyncpg

from services.notify.channels import Outcome

# One SMS segment of Chinese text is 70 characters; longer bodies are cut rather than split.
SMS_MAX_CHARS = 140


class SmsProvider(Protocol):
    """Anything that sends a text message to a phone number."""

    async def send(self, *, phone: str, body: str, delivery_id: int | None, now: datetime) -> Outcome: ...


class DevSmsProvider:
    """Records messages in `sms_messages` instead of sending them (dev, test, demos)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def send(self, *, phone: str, body: str, delivery_id: int | None, now: datetime) -> Outcome:
        """Record one message; `delivery_id` is None for a confirmation code (not a delivery)."""
        await self._pool.execute(
            "INSERT INTO sms_messages (phone, body, delivery_id, sent_at) VALUES ($1, $2, $3, $4)",
            phone,
            body[:SMS_MAX_CHARS],
            delivery_id,
            now,
        )
        return Outcome(True, "delivered")


def make_provider(name: str, pool: asyncpg.Pool) -> SmsProvider:
    """The provider named in settings; only `dev` ships, a real gateway implements SmsProvider."""
    if name == "dev":
        return DevSmsProvider(pool)
    raise ValueError(f"unknown SMS provider {name!r}; available: dev")
