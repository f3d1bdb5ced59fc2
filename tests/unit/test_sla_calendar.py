"""Unit tests for services.sla.calendar deadline arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.calendar import (
    Calendar,
    WorkingWindow,
    add_business_time,
    business_time_between,
    deadline_with_pauses,
    fraction_elapsed,
    instant_at_fraction,
    is_open,
    next_open,
)

SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
H = timedelta(hours=1)


def office(
    tz: str = "Asia/Shanghai",
    holidays: frozenset[date] = frozenset(),
    workdays: frozenset[date] = frozenset(),
) -> Calendar:
    """Mon-Fri 08:30-17:30 in `tz`."""
    window = WorkingWindow(WEEKDAYS, time(8, 30), time(17, 30))
    return Calendar("office", tz, windows=(window,), holidays=holidays, workdays=workdays)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """Shanghai local time."""
    return datetime(y, mo, d, h, mi, tzinfo=SH)


# Plausible (not official) 2026 National Day arrangement: Oct 1-7 off, Sunday Sep 27 and
# Saturday Oct 10 worked as make-up days (调休).
GOLDEN_WEEK = office(
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    workdays=frozenset({date(2026, 9, 27), date(2026, 10, 10)}),
)


# --- 24x7 -------------------------------------------------------------------------------------


def test_always_open_is_plain_absolute_addition_across_dst() -> None:
    cal = Calendar.always_open(timezone="Europe/Berlin")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=BER)  # 11:00 UTC, clocks jump the next night
    result = add_business_time(cal, start, 24 * H)
    assert result == datetime(2026, 3, 29, 11, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert business_time_between(cal, start, result) == 24 * H
    assert is_open(cal, start)
    assert next_open(cal, start) == start


# --- working hours, nights, weekends ---------------------------------------------------------


def test_friday_afternoon_rolls_to_monday() -> None:
    # 1.5h left on Friday (16:00-17:30), 2.5h from Monday 08:30 -> 11:00.
    result = add_business_time(office(), sh(2026, 1, 9, 16), 4 * H)
    assert result == sh(2026, 1, 12, 11, 0)
    assert result.tzinfo is UTC


def test_friday_afternoon_with_1700_close_is_monday_1130() -> None:
    cal = Calendar("short", "Asia/Shanghai", windows=(WorkingWindow(WEEKDAYS, time(8, 30), time(17)),))
    assert add_business_time(cal, sh(2026, 1, 9, 16), 4 * H) == sh(2026, 1, 12, 11, 30)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (sh(2026, 1, 13, 20), sh(2026, 1, 14, 9, 30)),  # Tuesday night
        (sh(2026, 1, 14, 3), sh(2026, 1, 14, 9, 30)),  # small hours
        (sh(2026, 1, 10, 10), sh(2026, 1, 12, 9, 30)),  # Saturday
        (sh(2026, 1, 11, 23), sh(2026, 1, 12, 9, 30)),  # Sunday night
        (sh(2026, 1, 12, 17, 30), sh(2026, 1, 13, 9, 30)),  # exactly at closing: closed
    ],
)
def test_start_outside_hours_starts_clock_at_next_opening(start: datetime, expected: datetime) -> None:
    assert add_business_time(office(), start, H) == expected


def test_zero_duration_outside_hours_is_next_opening() -> None:
    assert add_business_time(office(), sh(2026, 1, 10, 10), timedelta(0)) == sh(2026, 1, 12, 8, 30)
    assert add_business_time(office(), sh(2026, 1, 12, 10), timedelta(0)) == sh(2026, 1, 12, 10)


def test_deadline_at_closing_time_is_closing_time() -> None:
    assert add_business_time(office(), sh(2026, 1, 12, 8, 30), 9 * H) == sh(2026, 1, 12, 17, 30)


def test_week_long_deadline() -> None:
    cal = office()
    assert add_business_time(cal, sh(2026, 1, 12, 8, 30), 45 * H) == sh(2026, 1, 16, 17, 30)
    assert add_business_time(cal, sh(2026, 1, 12, 9), 7 * 9 * H) == sh(2026, 1, 21, 9)
    # A year of working time finishes promptly (day-window iteration, not minutes).
    year = add_business_time(cal, sh(2026, 1, 1), 52 * 45 * H)
    assert business_time_between(cal, sh(2026, 1, 1), year) == 52 * 45 * H


def test_is_open_and_next_open() -> None:
    cal = office()
    assert is_open(cal, sh(2026, 1, 12, 8, 30))
    assert is_open(cal, sh(2026, 1, 12, 17, 29))
    assert not is_open(cal, sh(2026, 1, 12, 17, 30))
    assert not is_open(cal, sh(2026, 1, 10, 12))
    assert next_open(cal, sh(2026, 1, 10, 12)) == sh(2026, 1, 12, 8, 30)
    assert next_open(cal, sh(2026, 1, 12, 12)) == sh(2026, 1, 12, 12)
    assert next_open(cal, sh(2026, 1, 12, 12)).tzinfo is UTC


def test_between_counts_only_open_time() -> None:
    cal = office()
    assert business_time_between(cal, sh(2026, 1, 9, 16), sh(2026, 1, 12, 11)) == 4 * H
    assert business_time_between(cal, sh(2026, 1, 12), sh(2026, 1, 19)) == 45 * H
    assert business_time_between(cal, sh(2026, 1, 12, 11), sh(2026, 1, 12, 10)) == timedelta(0)


def test_overlapping_windows_are_not_double_counted() -> None:
    cal = Calendar(
        "x",
        "Asia/Shanghai",
        windows=(
            WorkingWindow(WEEKDAYS, time(8), time(12)),
            WorkingWindow(frozenset({0}), time(11), time(14)),
        ),
    )
    assert business_time_between(cal, sh(2026, 1, 12), sh(2026, 1, 13)) == 6 * H
    assert business_time_between(cal, sh(2026, 1, 13), sh(2026, 1, 14)) == 4 * H


def test_lunch_break() -> None:
    cal = Calendar(
        "lunch",
        "Asia/Shanghai",
        windows=(
            WorkingWindow(WEEKDAYS, time(8, 30), time(12)),
            WorkingWindow(WEEKDAYS, time(13, 30), time(17, 30)),
        ),
    )
    assert add_business_time(cal, sh(2026, 1, 12, 11), 2 * H) == sh(2026, 1, 12, 14, 30)


# --- holidays and make-up days ----------------------------------------------------------------


def test_holiday_week_is_skipped() -> None:
    # Wed Sep 30 17:00: 0.5h, then Oct 1-7 off, Thu Oct 8 08:30 + 1.5h.
    assert add_business_time(GOLDEN_WEEK, sh(2026, 9, 30, 17), 2 * H) == sh(2026, 10, 8, 10)
    assert not is_open(GOLDEN_WEEK, sh(2026, 10, 5, 10))  # a Monday inside the holiday
    assert next_open(GOLDEN_WEEK, sh(2026, 10, 1, 9)) == sh(2026, 10, 8, 8, 30)


def test_make_up_days_are_counted() -> None:
    assert is_open(GOLDEN_WEEK, sh(2026, 9, 27, 10))  # Sunday make-up day
    assert is_open(GOLDEN_WEEK, sh(2026, 10, 10, 10))  # Saturday make-up day
    assert not is_open(GOLDEN_WEEK, sh(2026, 10, 11, 10))  # ordinary Sunday
    # Saturday noon + 1h -> Sunday make-up day 09:30 (not Monday).
    assert add_business_time(GOLDEN_WEEK, sh(2026, 9, 26, 12), H) == sh(2026, 9, 27, 9, 30)
    # Friday 17:00 + 1h -> Saturday make-up day 09:00.
    assert add_business_time(GOLDEN_WEEK, sh(2026, 10, 9, 17), H) == sh(2026, 10, 10, 9)
    # Sep 27 .. Oct 10: 7 working days (27, 28, 29, 30, 8, 9, 10) of 9h each.
    assert business_time_between(GOLDEN_WEEK, sh(2026, 9, 26), sh(2026, 10, 12)) == 63 * H


def test_make_up_day_uses_own_windows_else_mondays() -> None:
    cal = Calendar(
        "mixed",
        "Asia/Shanghai",
        windows=(
            WorkingWindow(frozenset({0}), time(9), time(12)),
            WorkingWindow(frozenset({1, 2, 3, 4}), time(8), time(18)),
            WorkingWindow(frozenset({5}), time(10), time(11)),
        ),
        workdays=frozenset({date(2026, 1, 10), date(2026, 1, 11)}),
    )
    # Saturday has its own hours; Sunday borrows Monday's.
    assert business_time_between(cal, sh(2026, 1, 10), sh(2026, 1, 11)) == H
    assert business_time_between(cal, sh(2026, 1, 11), sh(2026, 1, 12)) == 3 * H
    assert business_time_between(cal, sh(2026, 1, 17), sh(2026, 1, 19)) == H  # normal weekend


# --- DST ---------------------------------------------------------------------------------------


def daily(tz: str, start: time, end: time) -> Calendar:
    """One window every day of the week."""
    return Calendar("daily", tz, windows=(WorkingWindow(EVERY_DAY, start, end),))


def test_berlin_spring_forward_keeps_wall_clock_bounds() -> None:
    cal = daily("Europe/Berlin", time(8, 30), time(17, 30))
    # Sat 28 Mar (CET): 16:30 + 2h -> 1h Saturday, 1h on Sunday 29 Mar (CEST) -> 09:30 CEST.
    result = add_business_time(cal, datetime(2026, 3, 28, 16, 30, tzinfo=BER), 2 * H)
    assert result == datetime(2026, 3, 29, 7, 30, tzinfo=UTC)
    assert next_open(cal, datetime(2026, 3, 29, 0, 0, tzinfo=BER)) == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)
    day = business_time_between(cal, datetime(2026, 3, 29, tzinfo=BER), datetime(2026, 3, 30, tzinfo=BER))
    assert day == 9 * H


def test_berlin_window_spanning_the_jump_measures_real_time() -> None:
    night = daily("Europe/Berlin", time(0), time(6))
    spring = business_time_between(night, datetime(2026, 3, 29, tzinfo=BER), datetime(2026, 3, 30, tzinfo=BER))
    fall = business_time_between(night, datetime(2026, 10, 25, tzinfo=BER), datetime(2026, 10, 26, tzinfo=BER))
    assert (spring, fall) == (5 * H, 7 * H)
    # 00:00 CET = 23:00 UTC; 4 real hours later it is 05:00 CEST.
    assert add_business_time(night, datetime(2026, 3, 29, tzinfo=BER), 4 * H) == datetime(2026, 3, 29, 3, 0, tzinfo=UTC)
    # 00:00 CEST = 22:00 UTC; 3 real hours later is 02:00 CET, the second 02:00 of the night.
    fall_result = add_business_time(night, datetime(2026, 10, 25, tzinfo=BER), 3 * H)
    assert fall_result == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert fall_result.astimezone(BER).fold == 1


def test_berlin_fall_back_office_day() -> None:
    cal = daily("Europe/Berlin", time(8, 30), time(17, 30))
    start = datetime(2026, 10, 24, 17, 0, tzinfo=BER)  # Saturday, CEST
    result = add_business_time(cal, start, H)  # 0.5h Saturday, 0.5h Sunday (CET)
    assert result == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert result - start.astimezone(UTC) == timedelta(hours=17)  # 16 wall hours, 17 real


def test_new_york_window_on_dst_change_days() -> None:
    night = daily("America/New_York", time(1), time(4))
    assert business_time_between(night, datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY)) == 2 * H
    assert business_time_between(night, datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)) == 4 * H
    # Weekday office across the spring weekend: Fri 16:30 EST + 2h -> Mon 09:30 EDT (13:30 UTC).
    result = add_business_time(office("America/New_York"), datetime(2026, 3, 6, 16, 30, tzinfo=NY), 2 * H)
    assert result == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)


def test_shanghai_has_no_dst_surprises() -> None:
    cal = daily("Asia/Shanghai", time(8, 30), time(17, 30))
    for d in (date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1)):
        start = datetime.combine(d, time(0), tzinfo=SH)
        assert business_time_between(cal, start, start + 24 * H) == 9 * H


# --- pauses ------------------------------------------------------------------------------------


def test_pause_shifts_deadline_by_paused_working_time() -> None:
    cal = office()
    start = sh(2026, 1, 12, 9)
    assert deadline_with_pauses(cal, start, 4 * H, []) == sh(2026, 1, 12, 13)
    assert deadline_with_pauses(cal, start, 4 * H, [(sh(2026, 1, 12, 10), sh(2026, 1, 12, 11))]) == sh(2026, 1, 12, 14)
    # Over night: only 17:00-17:30 and 08:30-09:00 are working time -> +1h.
    overnight = [(sh(2026, 1, 12, 17), sh(2026, 1, 13, 9))]
    assert deadline_with_pauses(cal, start, 9 * H, []) == sh(2026, 1, 13, 9)
    assert deadline_with_pauses(cal, start, 9 * H, overnight) == sh(2026, 1, 13, 10)
    # A pause beginning exactly at the deadline does not move it.
    assert deadline_with_pauses(cal, start, 8 * H, overnight) == sh(2026, 1, 12, 17)
    # A weekend pause costs nothing.
    weekend = [(sh(2026, 1, 10), sh(2026, 1, 11, 23))]
    assert deadline_with_pauses(cal, start, 4 * H, weekend) == sh(2026, 1, 12, 13)


def test_overlapping_and_early_pauses_are_merged_and_clipped() -> None:
    cal = office()
    start = sh(2026, 1, 12, 9)
    pauses = [
        (sh(2026, 1, 12, 10), sh(2026, 1, 12, 11)),
        (sh(2026, 1, 12, 10, 30), sh(2026, 1, 12, 11, 30)),
        (sh(2026, 1, 12, 7), sh(2026, 1, 12, 9, 30)),  # began before the clock started
    ]
    assert deadline_with_pauses(cal, start, 4 * H, pauses) == sh(2026, 1, 12, 15)


def test_open_pause_gives_no_deadline() -> None:
    cal = office()
    start = sh(2026, 1, 12, 9)
    assert deadline_with_pauses(cal, start, 4 * H, [(sh(2026, 1, 12, 10), None)]) is None
    assert instant_at_fraction(cal, start, 4 * H, 0.75, [(sh(2026, 1, 12, 10), None)]) is None


def test_open_pause_after_breach_does_not_erase_breach() -> None:
    cal = office()
    start = sh(2026, 1, 12, 9)
    late = [(sh(2026, 1, 12, 14), None)]
    assert deadline_with_pauses(cal, start, 4 * H, late) == sh(2026, 1, 12, 13)


def test_pause_on_24x7() -> None:
    cal = Calendar.always_open()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pauses = [(start + H, start + 3 * H)]
    assert deadline_with_pauses(cal, start, 4 * H, pauses) == start + 6 * H


# --- fractions ---------------------------------------------------------------------------------


def test_warning_and_escalation_instants() -> None:
    cal = office()
    start, duration = sh(2026, 1, 12, 9), 8 * H
    deadline = add_business_time(cal, start, duration)
    assert deadline == sh(2026, 1, 12, 17)
    # 1.25 = 10h: 8.5h on Monday, 1.5h on Tuesday.
    expected = {
        0.5: sh(2026, 1, 12, 13),
        0.75: sh(2026, 1, 12, 15),
        1.0: deadline,
        1.25: sh(2026, 1, 13, 10),
    }
    for fraction, instant in expected.items():
        assert instant_at_fraction(cal, start, duration, fraction) == instant
        assert fraction_elapsed(cal, start, deadline, instant) == fraction


def test_fraction_with_pauses() -> None:
    cal = office()
    start, duration = sh(2026, 1, 12, 9), 4 * H
    pauses = [(sh(2026, 1, 12, 10), sh(2026, 1, 12, 11))]
    deadline = deadline_with_pauses(cal, start, duration, pauses)
    assert deadline == sh(2026, 1, 12, 14)
    assert instant_at_fraction(cal, start, duration, 0.5, pauses) == sh(2026, 1, 12, 12)
    assert fraction_elapsed(cal, start, deadline, sh(2026, 1, 12, 12), pauses) == 0.5
    assert fraction_elapsed(cal, start, deadline, sh(2026, 1, 12, 10, 30), pauses) == 0.25
    # An open pause freezes the share at its value when the pause began.
    frozen = [*pauses, (sh(2026, 1, 12, 12), None)]
    assert fraction_elapsed(cal, start, deadline, sh(2026, 1, 13, 12), frozen) == 0.5


def test_fraction_before_start_and_zero_budget() -> None:
    cal = office()
    start = sh(2026, 1, 12, 9)
    assert fraction_elapsed(cal, start, sh(2026, 1, 12, 13), sh(2026, 1, 12, 8)) == 0.0
    assert fraction_elapsed(cal, start, start, start) == 1.0


# --- validation --------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected() -> None:
    cal, naive, aware = office(), datetime(2026, 1, 12, 9), sh(2026, 1, 12, 9)
    calls: list[Callable[[], object]] = [
        lambda: add_business_time(cal, naive, H),
        lambda: business_time_between(cal, naive, aware),
        lambda: business_time_between(cal, aware, naive),
        lambda: is_open(cal, naive),
        lambda: next_open(cal, naive),
        lambda: deadline_with_pauses(cal, naive, H, []),
        lambda: deadline_with_pauses(cal, aware, H, [(naive, None)]),
        lambda: fraction_elapsed(cal, aware, aware + H, naive),
        lambda: instant_at_fraction(cal, naive, H, 0.5),
        lambda: add_business_time(Calendar.always_open(), naive, H),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="aware"):
            call()


def test_bad_arguments_are_rejected() -> None:
    cal, aware = office(), sh(2026, 1, 12, 9)
    with pytest.raises(ValueError, match="negative"):
        add_business_time(cal, aware, -H)
    with pytest.raises(ValueError, match="fraction"):
        instant_at_fraction(cal, aware, H, -0.1)
    with pytest.raises(ValueError, match="fraction"):
        instant_at_fraction(cal, aware, H, float("nan"))
    with pytest.raises(ValueError, match="before it starts"):
        deadline_with_pauses(cal, aware, H, [(aware, aware - H)])


def test_calendar_without_open_time_raises_instead_of_looping() -> None:
    for cal in (
        Calendar("closed", "UTC"),
        Calendar("nodays", "UTC", windows=(WorkingWindow(frozenset(), time(9), time(17)),)),
    ):
        with pytest.raises(ValueError, match="no open time"):
            add_business_time(cal, datetime(2026, 1, 1, tzinfo=UTC), H)
        with pytest.raises(ValueError, match="no open time"):
            is_open(cal, datetime(2026, 1, 1, tzinfo=UTC))


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="after start"):
        WorkingWindow(WEEKDAYS, time(17), time(9))
    with pytest.raises(ValueError, match=r"0\.\.6"):
        WorkingWindow(frozenset({7}), time(9), time(17))
    with pytest.raises(ValueError, match="timezone"):
        Calendar("x", "Mars/Olympus")
    with pytest.raises(ValueError, match="both"):
        office(holidays=frozenset({date(2026, 1, 1)}), workdays=frozenset({date(2026, 1, 1)}))
    with pytest.raises(ValueError, match="24x7"):
        Calendar("x", "UTC", always=True, holidays=frozenset({date(2026, 1, 1)}))


# --- properties --------------------------------------------------------------------------------

CALENDARS = st.sampled_from(
    [
        office(),
        GOLDEN_WEEK,
        daily("Europe/Berlin", time(0), time(6)),
        daily("Europe/Berlin", time(8, 30), time(17, 30)),
        office("America/New_York", holidays=frozenset({date(2026, 7, 3), date(2026, 11, 26)})),
        Calendar(
            "lunch",
            "Asia/Shanghai",
            windows=(
                WorkingWindow(WEEKDAYS, time(8, 30), time(12)),
                WorkingWindow(WEEKDAYS, time(13, 30), time(17, 30)),
            ),
        ),
        Calendar.always_open(),
    ]
)
INSTANTS = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC))
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))


@settings(max_examples=300, deadline=None)
@given(cal=CALENDARS, start=INSTANTS, duration=DURATIONS)
def test_between_inverts_add(cal: Calendar, start: datetime, duration: timedelta) -> None:
    end = add_business_time(cal, start, duration)
    assert end >= start
    assert end.tzinfo is UTC
    assert business_time_between(cal, start, end) == duration
    if duration > timedelta(0):
        # The deadline is the earliest such instant: the clock was running just before it.
        assert business_time_between(cal, start, end - timedelta(microseconds=1)) < duration


@settings(max_examples=200, deadline=None)
@given(cal=CALENDARS, at=INSTANTS)
def test_next_open_is_open(cal: Calendar, at: datetime) -> None:
    opening = next_open(cal, at)
    assert opening >= at
    assert is_open(cal, opening)
    assert business_time_between(cal, at, opening) == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(
    cal=CALENDARS,
    start=INSTANTS,
    duration=DURATIONS,
    offset=st.timedeltas(min_value=-timedelta(days=2), max_value=timedelta(days=20)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
)
def test_pause_costs_exactly_its_working_time(
    cal: Calendar, start: datetime, duration: timedelta, offset: timedelta, length: timedelta
) -> None:
    p0, p1 = start + offset, start + offset + length
    deadline = deadline_with_pauses(cal, start, duration, [(p0, p1)])
    assert deadline is not None
    paused = business_time_between(cal, max(p0, start), min(p1, deadline))
    assert business_time_between(cal, start, deadline) - paused == duration
