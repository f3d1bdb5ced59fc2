"""Sends a confirmation code to an SMS or e-mail target, through the same channels events use."""

from __future__ import annotations

from services.notify.channels import ChannelEnv, Delivery, Outcome, channel_of
from services.notify.templates import confirmation_message


async def send_code(
    *, env: ChannelEnv, channel: str, subscription_id: str, target: str, code: str, language: str
) -> Outcome:
    """One code message; the caller records nothing about the target's answer, only whether it went."""
    minutes = max(1, round(env.settings.confirm_code_ttl_seconds / 60))
    message = confirmation_message(code, language=language, minutes=minutes)
    sender = channel_of(channel).sender(env)
    try:
        return await sender.deliver(Delivery(id=None, subscription_id=subscription_id, target=target), message)
    finally:
        await sender.aclose()
