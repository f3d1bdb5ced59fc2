"""The delivery log's response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    """One subscription x event. `failed` is the dead letter: retries ran out (or it cannot be sent)."""

    id: int
    subscription_id: str
    event_id: str
    case_id: str
    event_type: str
    channel: str
    destination: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    retry_from: datetime
    delivered_at: datetime | None
    last_error: str | None
    last_status: int | None
    attempt_log: list[AttemptOut] | None = None
