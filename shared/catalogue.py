"""The catalogue (派单目录): who acts on which need, where, under which SLA; model and loader."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from shared.catalogue_checks import check_references
from shared.catalogue_entries import (
    ESCALATION_LEVELS,
    WEEKDAYS,
    Attribute,
    CalendarDef,
    CatalogueError,
    CatalogueProblem,
    Category,
    Community,
    Department,
    District,
    Escalation,
    Grid,
    Hours,
    Keywords,
    Member,
    Owner,
    Pairing,
    SlaClass,
    StreetOffice,
    Team,
    Text,
    Zone,
    _Model,
    parse_duration,
)

__all__ = [
    "ESCALATION_LEVELS",
    "WEEKDAYS",
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
