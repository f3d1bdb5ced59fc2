"""Intake's settings."""

from pydantic import Field

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
