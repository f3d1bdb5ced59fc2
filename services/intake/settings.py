"""Intake's settings."""

from pydantic import Field, field_validator

from shared.ratelimit import Rate, parse_networks
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """Intake listens on 8001 and owns the `intake` schema."""

    service: str = "intake"
    port: int = 8001
    # Below this classifier confidence a need without a category goes to the street office's triage.
    classification_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # A point farther than this from every community centre is outside the jurisdiction.
    max_community_distance_m: float = Field(3000.0, gt=0)
    # Open311 `jurisdiction_id` this endpoint answers to (absent is fine too).
    open311_jurisdiction_id: str = "tianjin"
    open311_page_size: int = Field(50, ge=1)
    open311_max_page_size: int = Field(200, ge=1)
    # Survey upload limit (413 above it) and rows per transaction.
    survey_max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    survey_batch_rows: int = Field(500, ge=1, le=10_000)
    # Submissions (POST /v1/needs, Open311 POST requests) per client address: a burst at once, then
    # a steady rate. Staff keys are limited per key instead, more generously (hotlines, 311 apps).
    rate_limit_burst: int = Field(10, ge=1)
    rate_limit_per_minute: float = Field(30.0, gt=0)
    staff_rate_limit_burst: int = Field(200, ge=1)
    staff_rate_limit_per_minute: float = Field(1200.0, gt=0)
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For is believed; empty: none is, and
    # the client is the socket peer. Set it to the gateway's address behind nginx.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    def submission_rate(self) -> Rate:
        """The limit on anonymous (and resident) submissions per client address."""
        return Rate("submissions per client address", self.rate_limit_burst, self.rate_limit_per_minute)

    def staff_submission_rate(self) -> Rate:
        """The limit on submissions per staff key."""
        return Rate("submissions per staff key", self.staff_rate_limit_burst, self.staff_rate_limit_per_minute)
