"""Routing's settings."""

from pydantic import Field

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    """Routing listens on 8002 and owns the `routing` schema."""

    service: str = "routing"
    port: int = 8002
    # After this many declines (退单) a case goes to the street office's arbitration queue.
    max_declines: int = Field(2, ge=1, le=10)
    # A catalogue file is larger than the usual request body.
    max_catalogue_bytes: int = Field(5_000_000, ge=10_000)
