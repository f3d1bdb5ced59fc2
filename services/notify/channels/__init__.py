"""Ways a notification leaves notify, one module each, registered by name in `CHANNELS`.

Nothing outside this package compares channel names: code looks the channel up here and calls
the `Channel` protocol. The database keeps the name as text checked against this registry.
"""

from __future__ import annotations

from services.notify.channels.base import Channel, ChannelEnv, Delivery, Outcome, Sender
from services.notify.channels.email import EmailChannel
from services.notify.channels.sms import SmsChannel
from services.notify.channels.webhook import WebhookChannel
from shared.errors import InvalidInput

__all__ = ["CHANNELS", "Channel", "ChannelEnv", "Delivery", "Outcome", "Sender", "channel_of"]

CHANNELS: dict[str, Channel] = {
    WebhookChannel.name: WebhookChannel(),
    EmailChannel.name: EmailChannel(),
    SmsChannel.name: SmsChannel(),
}


def channel_of(name: str, *, field: str = "channel") -> Channel:
    """The registered channel called `name`; InvalidInput naming `field` (and the valid names) otherwise."""
    channel = CHANNELS.get(name)
    if channel is None:
        raise InvalidInput(field, f"unknown channel {name!r}; valid: {', '.join(CHANNELS)}")
    return channel
