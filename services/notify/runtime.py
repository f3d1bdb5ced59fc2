"""Notify's runtime type: its settings and the singletons it holds beside the shared ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.notify.delivery import DeliveryWorker
from services.notify.hub import StreamHub
from services.notify.settings import NotifySettings
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
