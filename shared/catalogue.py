"""The catalogue (派单目录): who acts on which need, where, under which SLA; model and loader."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.catalogue_checks import check_references

__all__ = [
    "Attribute",
    "CalendarDef",
    "Catalogue",
    "CatalogueError",
    "CatalogueProblem",
    "Category",
    "Community",
    "Department",
    "District",
    "Escalation",
    "Grid",
    "Hours",
    "Keywords",
    "Member",
    "Owner",
    "Pairing",
    "SlaClass",
    "StreetOffice",
    "Team",
    "load_catalogue",
    "parse_catalogue",
    "parse_duration",
    "read_catalogue_text",
]

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


class _Model(BaseModel):
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


class Catalogue(_Model):
    """The whole catalogue, validated and indexed; build it with `load_catalogue`."""

    version: int = Field(ge=1)
    name: Text
    timezone: Zone
    district: District
    calendars: tuple[CalendarDef, ...] = Field(min_length=1)
    sla_classes: tuple[SlaClass, ...] = Field(min_length=1)
    street_offices: tuple[StreetOffice, ...] = Field(min_length=1)
    communities: tuple[Community, ...] = Field(min_length=1)
    departments: tuple[Department, ...] = ()
    teams: tuple[Team, ...] = ()
    pairings: tuple[Pairing, ...] = ()
    categories: tuple[Category, ...] = Field(min_length=1)
    _index: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)
    _fingerprint: str = PrivateAttr(default="")

    @model_validator(mode="before")
    @classmethod
    def _default_calendar_zone(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("calendars"), list):
            return data
        zone = data.get("timezone")
        if not isinstance(zone, str):
            return data
        calendars = [
            {"timezone": zone, **c} if isinstance(c, Mapping) and "timezone" not in c else c for c in data["calendars"]
        ]
        return {**data, "calendars": calendars}

    def model_post_init(self, context: Any, /) -> None:
        """Index every list by code and compute the fingerprint once."""
        for key in (
            "calendars",
            "sla_classes",
            "street_offices",
            "communities",
            "departments",
            "teams",
            "pairings",
            "categories",
        ):
            self._index[key] = {item.code: item for item in getattr(self, key)}
        self._index["grids"] = {g.code: c for c in self.communities for g in c.grids}
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self._fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def category(self, code: str) -> Category | None:
        """The category with this code, if any."""
        return self._index["categories"].get(code)

    def community(self, code: str) -> Community | None:
        """The community with this code, if any."""
        return self._index["communities"].get(code)

    def department(self, code: str) -> Department | None:
        """The department with this code, if any."""
        return self._index["departments"].get(code)

    def team(self, code: str) -> Team | None:
        """The volunteer team with this code, if any."""
        return self._index["teams"].get(code)

    def street(self, code: str) -> StreetOffice | None:
        """The street office with this code, if any."""
        return self._index["street_offices"].get(code)

    def calendar(self, code: str) -> CalendarDef | None:
        """The calendar with this code, if any."""
        return self._index["calendars"].get(code)

    def sla_class(self, code: str) -> SlaClass | None:
        """The SLA class with this code, if any."""
        return self._index["sla_classes"].get(code)

    def pairing(self, code: str) -> Pairing | None:
        """The pairing with this code, if any."""
        return self._index["pairings"].get(code)

    def community_of_grid(self, grid_code: str) -> Community | None:
        """The community a grid belongs to, if the grid exists."""
        return self._index["grids"].get(grid_code)

    def street_of_community(self, community_code: str) -> StreetOffice | None:
        """The street office over a community, if the community exists."""
        found = self.community(community_code)
        return self.street(found.street) if found else None

    def district_of(self, street_code: str) -> District:
        """Where a street office escalates to: its own district, else the catalogue's."""
        found = self.street(street_code)
        return found.district if found and found.district else self.district

    def _known_category(self, code: str) -> Category:
        found = self.category(code)
        if found is None:
            raise KeyError(f"unknown category {code!r}")
        return found

    def responsible_departments(self, category_code: str, street_code: str) -> list[str]:
        """Department codes for a category in a street, lead first; [] → volunteers / street."""
        found = self._known_category(category_code)
        if self.street(street_code) is None:
            raise KeyError(f"unknown street {street_code!r}")
        for owner in found.owners:
            if owner.street == street_code:
                return list(owner.departments)
        return list(found.default_departments)

    def teams_for(self, category_code: str, community_code: str) -> list[Team]:
        """Teams serving the community with a skill the category needs (only when volunteer_ok)."""
        found = self._known_category(category_code)
        if self.community(community_code) is None:
            raise KeyError(f"unknown community {community_code!r}")
        if not found.volunteer_ok:
            return []
        wanted = set(found.skills)
        return [t for t in self.teams if community_code in t.communities and wanted & set(t.skills)]

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of the whole catalogue's canonical JSON; equal content, equal value."""
        return self._fingerprint

    def to_dict(self) -> dict[str, Any]:
        """The whole catalogue as JSON-able data (durations as ISO 8601, dates as YYYY-MM-DD)."""
        return self.model_dump(mode="json")

    def to_public_dict(self) -> dict[str, Any]:
        """JSON-able catalogue without personal data: no pairings, team members or emails."""
        # Pairings say which frail resident a named volunteer visits: never publish them.
        return self.model_dump(
            mode="json",
            exclude={
                "pairings": True,
                "teams": {"__all__": {"members", "lead"}},
                "departments": {"__all__": {"email"}},
            },
        )


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, failing on a repeated key (PyYAML would silently keep the last)."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Dates stay strings so an impossible date (2026-02-30) is a reported problem, not a YAML crash.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_catalogue(path: str | Path) -> Catalogue:
    """Read a YAML catalogue file and validate it completely (raises CatalogueError, OSError)."""
    source = Path(path)
    return parse_catalogue(read_catalogue_text(source.read_text(encoding="utf-8"), source=str(source)))


def read_catalogue_text(text: str, *, source: str = "(body)") -> Any:
    """Parse YAML (or JSON, which YAML reads too) into plain data; CatalogueError at `source` if it is not."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise CatalogueError([CatalogueProblem(source, f"invalid YAML: {exc}")]) from None


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Validate plain data into a Catalogue, or raise one CatalogueError listing every problem."""
    if not isinstance(data, Mapping):
        raise CatalogueError([CatalogueProblem("(root)", "the catalogue must be a mapping")])
    problems: list[CatalogueProblem] = []
    catalogue: Catalogue | None = None
    try:
        catalogue = Catalogue.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        # Pydantic drops invalid items and then also calls the list "too short": noise.
        nested = {e["loc"][:i] for e in errors for i in range(1, len(e["loc"]))}
        problems = [
            CatalogueProblem(_location(e["loc"]), _message(e))
            for e in errors
            if not (e["type"] == "too_short" and e["loc"] in nested)
        ]
    # Reference checks run on the raw data, so they report even when the structure has problems.
    problems += [CatalogueProblem(loc, msg) for loc, msg in check_references(data)]
    if problems or catalogue is None:
        raise CatalogueError(problems)
    return catalogue


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _message(error: Any) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{msg} (got {error['input']!r})" if error["type"] == "literal_error" else msg
