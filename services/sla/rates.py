"""The three rates (三率): counter increments per dimension and period bucket, and the ratios (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Dimension = Literal["department", "team", "street", "community", "category"]
Period = Literal["day", "week", "month"]
Counter = Literal["dispatched", "signed_in_time", "closed", "solved", "rated", "satisfied"]
DIMENSIONS: tuple[Dimension, ...] = ("department", "team", "street", "community", "category")
PERIODS: tuple[Period, ...] = ("day", "week", "month")
COUNTERS: tuple[Counter, ...] = ("dispatched", "signed_in_time", "closed", "solved", "rated", "satisfied")
SATISFIED = frozenset({"satisfied", "basically_satisfied"})


@dataclass(frozen=True)
class Facts:
    """Who and where a counted event belongs to."""

    street: str | None
    community: str | None
    category: str | None
    assignee_kind: str | None
    assignee_code: str | None


@dataclass(frozen=True)
class Increment:
    """Add `amount` to one counter of one (dimension, value, street, period, bucket) row."""

    dimension: Dimension
    value: str
    street: str
    period: Period
    bucket: date
    counter: Counter
    amount: int


def bucket_of(day: date, period: Period) -> date:
    """The first day of the period containing `day` (weeks start on Monday)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def local_day(at: datetime, timezone: str) -> date:
    """The calendar date of `at` where the catalogue lives (a Tianjin day, not a UTC day)."""
    return at.astimezone(ZoneInfo(timezone)).date()


def dimension_values(facts: Facts) -> list[tuple[Dimension, str]]:
    """The (dimension, value) pairs an event counts under; unknown facts are left out."""
    pairs: list[tuple[Dimension, str]] = []
    if facts.assignee_kind == "department" and facts.assignee_code:
        pairs.append(("department", facts.assignee_code))
    if facts.assignee_kind == "team" and facts.assignee_code:
        pairs.append(("team", facts.assignee_code))
    for dimension, value in (("street", facts.street), ("community", facts.community), ("category", facts.category)):
        if value:
            pairs.append((dimension, value))  # type: ignore[arg-type]  # the loop's literals widen to str
    return pairs


def increments(facts: Facts, *, at: datetime, timezone: str, counts: Mapping[Counter, int]) -> list[Increment]:
    """Every counter increment for one event at `at`, in every dimension and period."""
    day = local_day(at, timezone)
    return [
        Increment(dimension, value, facts.street or "", period, bucket_of(day, period), counter, amount)
        for dimension, value in dimension_values(facts)
        for period in PERIODS
        for counter, amount in counts.items()
        if amount
    ]


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator ÷ denominator, or None when nothing was counted."""
    return round(numerator / denominator, 4) if denominator else None


def default_range(period: Period, today: date) -> tuple[date, date]:
    """The range a rates query covers when it names none: the last 30 days, 12 weeks or 12 months."""
    span = {"day": timedelta(days=29), "week": timedelta(weeks=11), "month": timedelta(days=334)}[period]
    return bucket_of(today - span, period), today
