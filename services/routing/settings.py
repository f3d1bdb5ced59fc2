"""Routing's settings."""

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Routing listens on 8002 and owns the `routing` schema."""

    service: str = "routing"
    port: int = 8002
