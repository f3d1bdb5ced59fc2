"""SLA policies from the catalogue: which class a case runs on, its windows and calendars (pure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from services.sla.calendar import Calendar, WorkingWindow
from shared.catalogue import WEEKDAYS, CalendarDef, Catalogue, SlaClass

Kind = Literal["response", "first_feedback", "resolution"]
KINDS: tuple[Kind, ...] = ("response", "first_feedback", "resolution")
DEFAULT_WARN_AT = (0.5, 0.75)
# Priority `emergency` always runs on this class when the catalogue defines it.
EMERGENCY_CLASS = "emergency"


def to_calendar(definition: CalendarDef) -> Calendar:
    """The arithmetic calendar for a catalogue calendar definition."""
    if definition.kind == "always":
        return Calendar.always_open(code=definition.code, timezone=definition.timezone)
    windows = tuple(
        WorkingWindow(frozenset(WEEKDAYS.index(d) for d in h.days), h.start, h.end) for h in definition.hours
    )
    return Calendar(
        code=definition.code,
        timezone=definition.timezone,
        windows=windows,
        holidays=frozenset(definition.holidays),
        workdays=frozenset(definition.workdays),
    )


class Policies:
    """One catalogue version's SLA classes and calendars, with the fallbacks sla applies."""

    def __init__(self, catalogue: Catalogue, *, default_class: str = "general") -> None:
        self.catalogue = catalogue
        self.fingerprint = catalogue.fingerprint
        self.timezone = catalogue.timezone
        self._calendars = {c.code: to_calendar(c) for c in catalogue.calendars}
        self._always = Calendar.always_open(code="24x7", timezone=catalogue.timezone)
        self._default = catalogue.sla_class(default_class) or catalogue.sla_classes[0]

    def sla_class(self, code: str | None) -> SlaClass:
        """The class with this code; the default class when none or unknown (so a case never goes unwatched)."""
        found = self.catalogue.sla_class(code) if code else None
        return found or self._default

    def for_case(self, sla_class: str | None, priority: str | None) -> SlaClass:
        """The class a case runs on: `emergency` priority wins, else its category's class, else the default."""
        if priority == "emergency" and (emergency := self.catalogue.sla_class(EMERGENCY_CLASS)):
            return emergency
        return self.sla_class(sla_class)

    def calendar(self, code: str | None) -> Calendar:
        """The calendar with this code; 24x7 when it no longer exists (never stop watching)."""
        return self._calendars.get(code or "", self._always)

    @staticmethod
    def window(cls: SlaClass, kind: Kind) -> tuple[timedelta, str]:
        """(duration, calendar code) of one kind of deadline under a class."""
        if kind == "response":
            return cls.response, cls.response_calendar_code
        if kind == "first_feedback":
            return cls.first_feedback, cls.calendar
        return cls.resolve, cls.calendar


class PolicyCache:
    """The policies of the live catalogue, rebuilt only when the catalogue changed."""

    def __init__(self, *, default_class: str) -> None:
        self.default_class = default_class
        self._current: Policies | None = None

    def of(self, catalogue: Catalogue) -> Policies:
        """The policies for this catalogue version (the cached ones while its fingerprint holds)."""
        current = self._current
        if current is None or current.fingerprint != catalogue.fingerprint:
            current = Policies(catalogue, default_class=self.default_class)
            self._current = current
        return current
