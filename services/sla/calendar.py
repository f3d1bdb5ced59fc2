"""Business-calendar deadline arithmetic: pure functions, no I/O, no global clock."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Calendar",
    "WorkingWindow",
    "add_business_time",
    "business_time_between",
    "deadline_with_pauses",
    "fraction_elapsed",
    "instant_at_fraction",
    "is_open",
    "next_open",
]

Span = tuple[datetime, datetime]
Pause = tuple[datetime, datetime | None]

# Upper bound for any UTC span ("never closes"); far enough that no real deadline reaches it.
_FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
# No scan may walk more than ~110 years of local days: guarantees termination on absurd input.
_MAX_SCAN_DAYS = 40_000


@dataclass(frozen=True)
class WorkingWindow:
    """Local wall-clock opening hours [start, end) on the given weekdays (0=Mon..6=Sun)."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        """Validate and normalise so the window is hashable and unambiguous."""
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"weekdays must be 0..6, got {sorted(self.days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local wall-clock times and must be naive")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")


@dataclass(frozen=True)
class Calendar:
    """A 24x7 clock or weekly working windows with holidays and make-up working days (调休)."""

    code: str
    timezone: str
    always: bool = False
    windows: tuple[WorkingWindow, ...] = ()
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        """Validate the zone and reject contradictory configuration early."""
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        if self.always and (self.windows or self.holidays or self.workdays):
            raise ValueError("a 24x7 calendar takes no windows, holidays or make-up days")
        if clash := self.holidays & self.workdays:
            raise ValueError(f"dates both holiday and make-up day: {sorted(clash)}")

    @classmethod
    def always_open(cls, code: str = "24x7", timezone: str = "UTC") -> Calendar:
        """A calendar whose clock always runs."""
        return cls(code=code, timezone=timezone, always=True)


def _utc(dt: datetime, name: str = "datetime") -> datetime:
    """Convert an aware datetime to UTC; naive input is a programming error."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {dt!r}")
    return dt.astimezone(UTC)


def _weekly(cal: Calendar) -> dict[int, tuple[WorkingWindow, ...]]:
    """Windows per weekday, with the make-up-day fallback under key -1."""
    by_day = {wd: tuple(w for w in cal.windows if wd in w.days) for wd in range(7)}
    # Make-up days borrow a normal weekday's hours: Monday's, else the first weekday that has any.
    by_day[-1] = next((by_day[wd] for wd in range(7) if by_day[wd]), ())
    return by_day


def _day_spans(cal: Calendar, tz: ZoneInfo, weekly: dict[int, tuple[WorkingWindow, ...]], day: date) -> list[Span]:
    """Open spans of one local day in UTC, sorted by start."""
    if day in cal.holidays:
        return []
    windows = weekly[day.weekday()]
    if not windows and day in cal.workdays:
        windows = weekly[-1]
    spans = []
    for w in windows:
        # Each bound converts on its own (fold=0), so a DST shift inside a window changes its real
        # length: 01:00-04:00 lasts 2h on a spring-forward night and 4h on a fall-back night.
        s = datetime.combine(day, w.start, tzinfo=tz).astimezone(UTC)
        e = datetime.combine(day, w.end, tzinfo=tz).astimezone(UTC)
        if e > s:  # a start inside a DST gap can land after its end: that window is empty
            spans.append((s, e))
    return sorted(spans)


def _open_spans(cal: Calendar, frm: datetime) -> Iterator[Span]:
    """Yield disjoint, increasing open spans in UTC, clipped so none starts before `frm`."""
    if cal.always:
        yield frm, _FOREVER
        return
    if not any(w.days for w in cal.windows):
        raise ValueError(f"calendar {cal.code!r} has no open time at all")
    tz = ZoneInfo(cal.timezone)
    weekly = _weekly(cal)
    # Start one local day early: cheap insurance against zones whose midnight moves with DST.
    day = frm.astimezone(tz).date() - timedelta(days=1)
    # With weekly windows, a closed stretch longer than a week plus every holiday cannot happen
    # unless the calendar is broken; bail out instead of looping forever.
    max_closed = 8 + len(cal.holidays)
    closed = 0
    last_end = frm
    for _ in range(_MAX_SCAN_DAYS):
        spans = _day_spans(cal, tz, weekly, day)
        closed = 0 if spans else closed + 1
        if closed > max_closed:
            raise ValueError(f"calendar {cal.code!r} has no open time after {frm.isoformat()}")
        for s, e in spans:
            s = max(s, last_end)  # clip to `frm` and trim overlapping windows (no double counting)
            if e > s:
                yield s, e
                last_end = e
        day += timedelta(days=1)
    raise ValueError(f"calendar scan exceeded {_MAX_SCAN_DAYS} days from {frm.isoformat()}")


def _normalise_pauses(pauses: Sequence[Pause], start: datetime) -> list[tuple[datetime, datetime]]:
    """Pauses in UTC, clipped to `start`, sorted and merged; an open pause ends at _FOREVER."""
    out: list[tuple[datetime, datetime]] = []
    for p_start, p_end in pauses:
        raw_start = _utc(p_start, "pause start")
        e = _FOREVER if p_end is None else _utc(p_end, "pause end")
        if e < raw_start:
            raise ValueError(f"pause ends before it starts: {p_start!r} > {p_end!r}")
        s = max(raw_start, start)
        if e > s:
            out.append((s, e))
    out.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in out:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _running_spans(cal: Calendar, start: datetime, pauses: Sequence[Pause]) -> Iterator[Span]:
    """Spans from `start` where the SLA clock runs: open time minus pauses, up to an open pause."""
    paused = _normalise_pauses(pauses, start)
    i = 0
    for s, e in _open_spans(cal, start):
        while s < e:
            while i < len(paused) and paused[i][1] <= s:
                i += 1
            if i == len(paused) or paused[i][0] >= e:
                yield s, e
                break
            if paused[i][0] > s:
                yield s, paused[i][0]
            if paused[i][1] >= _FOREVER:
                return  # open pause: the clock never runs again
            s = paused[i][1]


def _consume(spans: Iterator[Span], duration: timedelta) -> datetime | None:
    """The instant at which `duration` of running time is used up, or None if the clock stops."""
    remaining = duration
    for s, e in spans:
        # `<=` (not `<`): a deadline falling exactly at closing time is that closing time.
        if remaining <= e - s:
            return s + remaining
        remaining -= e - s
    return None


def _measure(spans: Iterator[Span], end: datetime) -> timedelta:
    """Sum of running time in the spans before `end`."""
    total = timedelta(0)
    for s, e in spans:
        if s >= end:
            break
        total += min(e, end) - s
    return total


def _check_duration(duration: timedelta) -> None:
    """Reject negative durations."""
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")


def add_business_time(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The UTC instant when `duration` of working time has elapsed after `start`."""
    _check_duration(duration)
    result = _consume(_open_spans(cal, _utc(start, "start")), duration)
    assert result is not None  # open spans never run out; _open_spans raises instead
    return result


def business_time_between(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time elapsed in [start, end); zero if end <= start."""
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc <= start_utc:
        return timedelta(0)
    return _measure(_open_spans(cal, start_utc), end_utc)


def is_open(cal: Calendar, at: datetime) -> bool:
    """Whether the calendar's clock is running at `at`."""
    at_utc = _utc(at, "at")
    return next(_open_spans(cal, at_utc))[0] == at_utc


def next_open(cal: Calendar, at: datetime) -> datetime:
    """The first open instant at or after `at` (itself, in UTC, if already open)."""
    return next(_open_spans(cal, _utc(at, "at")))[0]


def deadline_with_pauses(
    cal: Calendar, start: datetime, duration: timedelta, pauses: Sequence[Pause]
) -> datetime | None:
    """Deadline with the clock stopped during pauses; None while an open pause holds the clock."""
    _check_duration(duration)
    # An open pause that begins after the deadline was already reached does not erase the
    # breach: the deadline is still returned. Only a pause begun in time yields None.
    return _consume(_running_spans(cal, _utc(start, "start"), pauses), duration)


def fraction_elapsed(
    cal: Calendar, start: datetime, deadline: datetime, at: datetime, pauses: Sequence[Pause] = ()
) -> float:
    """Share of the start..deadline window used at `at` (may exceed 1 after breach)."""
    start_utc, deadline_utc = _utc(start, "start"), _utc(deadline, "deadline")
    at_utc = _utc(at, "at")
    # The deadline was computed from closed pauses only (open ones give no deadline), so the
    # budget ignores open pauses while `used` freezes at the moment an open pause began.
    closed = [p for p in pauses if p[1] is not None]
    total = _measure(_running_spans(cal, start_utc, closed), deadline_utc)
    used = _measure(_running_spans(cal, start_utc, pauses), at_utc)
    if total <= timedelta(0):
        return 1.0 if at_utc >= deadline_utc else 0.0
    return used / total


def instant_at_fraction(
    cal: Calendar,
    start: datetime,
    duration: timedelta,
    fraction: float,
    pauses: Sequence[Pause] = (),
) -> datetime | None:
    """When `fraction` of `duration` will have elapsed (e.g. 0.5, 0.75, or 1.25 past breach)."""
    _check_duration(duration)
    if not math.isfinite(fraction) or fraction < 0:
        raise ValueError(f"fraction must be a finite number >= 0, got {fraction}")
    # timedelta * float rounds to the microsecond (half-even): exact for 0.5/0.75/1.25 of whole
    # seconds, and never more than 1µs off otherwise.
    return deadline_with_pauses(cal, start, duration * fraction, pauses)
