"""Notify's settings."""

from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Notify listens on 8004 and owns the `notify` schema."""

    service: str = "notify"
    port: int = 8004
    sse_queue_size: int = 1000
    sse_heartbeat_seconds: float = 15.0
