"""Notify's runtime type: its settings and the singletons it holds beside the shared ones."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from services.notify.channels import ChannelEnv
from services.notify.delivery import DeliveryWorker
from services.notify.settings import NotifySettings
from services.notify.store import deliveries as store_delivery
from services.notify.stream.hub import StreamHub
from services.notify.urlguard import Resolver
from shared.runtime import Late
from shared.service import ServiceRuntime


@dataclass
class NotifyExtras:
    """Built once in main.py; the two slots are filled at start (they need the pool)."""

    webhook_resolver: Resolver
    hub: Late[StreamHub] = field(default_factory=lambda: Late[StreamHub]("the stream hub"))
    delivery_worker: Late[DeliveryWorker] = field(default_factory=lambda: Late[DeliveryWorker]("the delivery worker"))


NotifyRuntime = ServiceRuntime[NotifySettings, NotifyExtras]


def channel_env(rt: NotifyRuntime) -> ChannelEnv:
    """What the channels' senders use in this process (after start: the dev SMS table needs the pool)."""
    return ChannelEnv(
        settings=rt.settings,
        resolver=rt.extras.webhook_resolver,
        record_sms=functools.partial(store_delivery.record_sms, rt.pool),
        now=rt.clock.now,
    )
