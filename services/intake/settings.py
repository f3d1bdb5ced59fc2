"""Intake's settings."""

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake listens on 8001 and owns the `intake` schema."""

    service: str = "intake"
    port: int = 8001
