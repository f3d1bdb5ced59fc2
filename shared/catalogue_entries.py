"""The catalogue's entries: departments, teams, calendars, SLA classes, categories; their field rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.text import CleanModel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ESCALATION_LEVELS = ("remind", "supervise", "district")  # 催办 → 督办 → district, mildest first
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)
_SHORT = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?"
    r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
)


@dataclass(frozen=True)
class CatalogueProblem:
    """One thing wrong with a catalogue, at a dotted location such as `categories[3].owners[0]`."""

    location: str
    message: str

    def __str__(self) -> str:
        """`location: message`."""
        return f"{self.location}: {self.message}"


class CatalogueError(Exception):
    """A catalogue was rejected; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: list[CatalogueProblem]) -> None:
        """Keep the problems and render them one per line."""
        self.problems = problems
        lines = "\n".join(map(str, problems))
        super().__init__(f"catalogue has {len(problems)} problem(s):\n{lines}")


def parse_duration(value: object) -> timedelta:
    """ISO 8601 (`PT2H`, `P7D`, `P1DT12H`) or shorthand (`30m`, `2h`, `7d`, `1h30m`) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip()
        # Years and months have no fixed length, so ISO `P1Y`/`P1M` are refused on purpose.
        match = _ISO.fullmatch(text) or _SHORT.fullmatch(text.lower())
        if match and any(match.groupdict().values()):
            n = {k: int(v or 0) for k, v in match.groupdict().items()}
            return timedelta(weeks=n["w"], days=n["d"], hours=n["h"], minutes=n["m"], seconds=n["s"])
    raise ValueError(f"invalid duration {value!r}: use ISO 8601 (PT2H, P7D) or shorthand (30m, 2h, 7d)")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("duration must be greater than zero")
    return value


def _parse_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"invalid date {value!r}: {exc}") from None
    raise ValueError(f"invalid date {value!r}: use YYYY-MM-DD")


def _parse_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value):  # as dumped
        try:
            return time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"invalid time {value!r}: {exc}") from None
    # YAML 1.1 reads an unquoted 17:30 as the base-60 integer 1050, hence the hint.
    raise ValueError(f"invalid time {value!r}: use a quoted 'HH:MM'")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}") from None
    return value


# Codes end up in Kafka topic names and URLs, hence the narrow alphabet.
Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]
Day = Annotated[date, BeforeValidator(_parse_date)]
ClockTime = Annotated[time, BeforeValidator(_parse_time)]
Zone = Annotated[str, AfterValidator(_check_zone)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Model(CleanModel):
    """Every catalogue entry: unknown keys refused, free text through the one cleaning rule (shared/text.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Named(_Model):
    code: Code
    name: Text
    name_en: Text


class District(_Named):
    """The escalation target above street offices."""


class StreetOffice(_Named):
    """A street office (街道); `district` overrides the catalogue-wide district when set."""

    district: District | None = None


class Hours(_Model):
    """Working hours [start, end) in local time on the given weekdays."""

    days: tuple[Weekday, ...] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> Hours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CalendarDef(_Model):
    """A 24x7 clock or working hours with holidays and make-up working days (调休)."""

    code: Code
    name: Text
    kind: Literal["always", "working_hours"]
    timezone: Zone  # filled from the catalogue's timezone when the YAML omits it
    hours: tuple[Hours, ...] = ()
    holidays: tuple[Day, ...] = ()
    workdays: tuple[Day, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> CalendarDef:
        if self.kind == "always" and (self.hours or self.holidays or self.workdays):
            raise ValueError("an 'always' calendar takes no hours, holidays or workdays")
        if self.kind == "working_hours" and not self.hours:
            raise ValueError("a 'working_hours' calendar needs hours")
        if clash := sorted(set(self.holidays) & set(self.workdays)):
            raise ValueError(f"dates both holiday and workday: {', '.join(map(str, clash))}")
        weekly = {day for h in self.hours for day in h.days}
        if normal := sorted(d for d in self.workdays if WEEKDAYS[d.weekday()] in weekly):
            raise ValueError(f"workdays already working days: {', '.join(map(str, normal))}")
        return self


class Escalation(_Model):
    """Escalate to `level` once `after` × the resolution window has elapsed."""

    after: float = Field(ge=1.0)
    level: Literal["remind", "supervise", "district"]


class SlaClass(_Model):
    """Deadlines; on a working_hours calendar durations count working time only."""

    code: Code
    name: Text
    name_en: Text
    calendar: Code
    response_calendar: Code | None = None  # sign-for (签收) clock; None → `calendar`
    response: Duration
    first_feedback: Duration
    resolve: Duration
    warn_at: tuple[Fraction, ...] = (0.5, 0.75)
    escalation: tuple[Escalation, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> SlaClass:
        if list(self.warn_at) != sorted(set(self.warn_at)):
            raise ValueError("warn_at must be strictly increasing")
        afters = [e.after for e in self.escalation]
        ranks = [ESCALATION_LEVELS.index(e.level) for e in self.escalation]
        if afters != sorted(set(afters)) or ranks != sorted(ranks):
            raise ValueError("escalation must be ordered: increasing 'after', levels remind → supervise → district")
        return self

    @property
    def response_calendar_code(self) -> str:
        """The calendar the sign-for deadline runs on."""
        return self.response_calendar or self.calendar


class GeoPoint(_Model):
    """WGS-84 coordinates."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Grid(_Model):
    """A grid (网格) inside a community, patrolled by grid workers."""

    code: Code
    name: Text


class Community(_Named):
    """A community (社区) under one street office."""

    street: Code
    center: GeoPoint
    grids: tuple[Grid, ...] = ()


class Department(_Named):
    """A contracted functional department and the streets it serves."""

    streets: tuple[Code, ...] = Field(min_length=1)
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None


class Member(_Model):
    """A volunteer in a team."""

    code: Code
    name: Text


class Team(_Named):
    """A volunteer team; `lead` is a member code, `capacity` the most open cases it takes."""

    skills: tuple[Code, ...] = Field(min_length=1)
    communities: tuple[Code, ...] = Field(min_length=1)
    capacity: int = Field(gt=0)
    lead: Code
    members: tuple[Member, ...] = Field(min_length=1)


class Pairing(_Model):
    """A standing pairing (结对) of a vulnerable household with one volunteer."""

    code: Code
    community: Code
    team: Code
    volunteer: Code
    note: str = ""


class Owner(_Model):
    """Departments owning a category in one street: first = lead (首接负责), rest co-handlers."""

    street: Code
    departments: tuple[Code, ...] = Field(min_length=1)


def _lower(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w.lower() for w in words)


class Keywords(_Model):
    """Substring keywords for classifying free text; English ones are stored lower-case."""

    zh: tuple[Text, ...] = ()
    en: Annotated[tuple[Text, ...], AfterValidator(_lower)] = ()


class AttributeValue(_Model):
    """One choice of an Open311 list attribute."""

    key: Text
    name: Text


class Attribute(_Model):
    """An Open311 GeoReport v2 service attribute definition."""

    code: Code
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    variable: bool = True
    description: Text
    datatype_description: str = ""
    order: int = Field(default=1, ge=1)
    values: tuple[AttributeValue, ...] = ()

    @model_validator(mode="after")
    def _values(self) -> Attribute:
        if self.datatype.endswith("valuelist") != bool(self.values):
            raise ValueError("values are required for list datatypes and not allowed otherwise")
        return self


class Category(_Named):
    """A kind of need: its SLA class, its owners per street and whether volunteers may take it."""

    sla_class: Code
    owners: tuple[Owner, ...] = ()
    default_departments: tuple[Code, ...] = ()
    volunteer_ok: bool = False
    street_fallback: bool = False  # 兜底 by design: the street office itself takes unowned cases
    skills: tuple[Code, ...] = ()
    keywords: Keywords = Keywords()
    duplicate_radius_m: float = Field(default=150.0, gt=0)
    duplicate_window: Duration = timedelta(hours=24)
    attributes: tuple[Attribute, ...] = ()

    @model_validator(mode="after")
    def _skills(self) -> Category:
        if self.volunteer_ok and not self.skills:
            raise ValueError("volunteer_ok needs at least one skill")
        return self
