"""E-mail over SMTP with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from services.notify.channels import Outcome
from services.notify.templates import Message


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
