"""Sends a confirmation code to an SMS or e-mail target, through the same channels events use."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.notify.channels import Outcome
from services.notify.channels.email import send_email
from services.notify.channels.sms import make_provider
from services.notify.settings import NotifySettings
from services.notify.templates import confirmation_message


async def send_code(
    *, settings: NotifySettings, pool: asyncpg.Pool, channel: str, target: str, code: str, language: str, now: datetime
) -> Outcome:
    """One code message; the caller records nothing about the target's answer, only whether it went."""
    message = confirmation_message(
        code, language=language, minutes=max(1, round(settings.confirm_code_ttl_seconds / 60))
    )
    if channel == "sms":
        return await make_provider(settings.sms_provider, pool).send(
            phone=target, body=message.subject, delivery_id=None, now=now
        )
    s = settings
    return await send_email(
        host=s.smtp_host,
        port=s.smtp_port,
        sender=s.smtp_sender,
        to=target,
        message=message,
        timeout=s.smtp_timeout_seconds,
        starttls=s.smtp_starttls,
        username=s.smtp_username,
        password=s.smtp_password.get_secret_value() if s.smtp_password else None,
    )
