"""E-mail over SMTP with aiosmtplib."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import ClassVar

import aiosmtplib

from services.notify.channels.base import ChannelEnv, Delivery, Outcome, Sender
from services.notify.templates import Message
from shared.auth import Principal
from shared.errors import InvalidInput

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


async def send_email(
    *,
    host: str,
    port: int,
    sender: str,
    to: str,
    message: Message,
    timeout: float,  # noqa: ASYNC109 - the limit per attempt comes from settings
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """Send one message; SMTP 4xx/5xx and connection failures are retried by the worker."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.subject
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(message.body)
    try:
        errors, _ = await aiosmtplib.send(
            mail,
            hostname=host,
            port=port,
            timeout=timeout,
            start_tls=starttls,
            username=username,
            password=password,
        )
    except aiosmtplib.SMTPException as exc:
        return Outcome(False, "smtp_error", error=f"{type(exc).__name__}: {exc}"[:500])
    except (OSError, TimeoutError) as exc:
        return Outcome(False, "connect_error", error=f"{type(exc).__name__}: {exc}"[:500])
    if errors:
        return Outcome(False, "smtp_error", error=str(errors)[:500])
    return Outcome(True, "delivered")


class EmailSender:
    """Sends over the SMTP server in settings; a connection per message."""

    def __init__(self, env: ChannelEnv) -> None:
        self._s = env.settings

    async def deliver(self, delivery: Delivery, message: Message | None) -> Outcome:
        if message is None:
            return Outcome(False, "error", error="nothing to say: e-mail needs a rendered message", retry=False)
        s = self._s
        headers = (
            {"X-Lastmeter-Delivery-Id": f"dlv_{delivery.id}", "X-Lastmeter-Event-Type": delivery.event_type}
            if delivery.id is not None
            else None
        )
        return await send_email(
            host=s.smtp_host,
            port=s.smtp_port,
            sender=s.smtp_sender,
            to=delivery.target,
            message=message,
            timeout=s.smtp_timeout_seconds,
            starttls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            headers=headers,
        )

    async def aclose(self) -> None:
        return None


class EmailChannel:
    """E-mail: a contact target, confirmed with a code first."""

    name: ClassVar[str] = "email"
    confirms: ClassVar[bool] = True
    signs: ClassVar[bool] = False
    renders: ClassVar[bool] = True

    async def validate_target(self, target: str, *, principal: Principal, secret: str | None, env: ChannelEnv) -> str:
        if not EMAIL.match(target):
            raise InvalidInput("target", "not an e-mail address")
        return target

    def mask(self, target: str) -> str:
        name, _, domain = target.partition("@")
        return f"{name[:1]}***@{domain}"

    def destination(self, target: str) -> str:
        return self.name

    def sender(self, env: ChannelEnv) -> Sender:
        return EmailSender(env)
