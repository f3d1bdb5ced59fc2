"""SLA's settings."""

from shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    """SLA listens on 8003 and owns the `sla` schema."""

    service: str = "sla"
    port: int = 8003
