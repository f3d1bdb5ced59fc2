"""SLA's settings."""

from pydantic import Field

from shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    """SLA listens on 8003 and owns the `sla` schema."""

    service: str = "sla"
    port: int = 8003
    # The class a case runs on when its category names none (or an unknown one).
    default_sla_class: str = "general"
    # Timers claimed per transaction by the timer loop.
    timer_batch: int = Field(default=1000, gt=0)
    # Longest the timer loop sleeps without looking (NOTIFY wakes it sooner when a nearer timer is armed).
    timer_max_sleep: float = Field(default=30.0, gt=0)
