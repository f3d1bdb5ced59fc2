"""Catalogue cross-reference and uniqueness checks on raw data, pure and shape-tolerant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Item = tuple[str, Mapping[str, Any]]  # (location, raw mapping)


def check_references(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (location, message) for duplicate codes and dangling or inconsistent references."""
    # Runs on the raw data rather than the validated model, so it still reports when some other
    # part of the catalogue failed structural validation: one run shows the operator everything.
    return _Checker(data).run()


def _items(obj: Any, key: str, parent: str = "") -> list[Item]:
    seq = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(seq, list):
        return []
    prefix = f"{parent}.{key}" if parent else key
    return [(f"{prefix}[{i}]", x) for i, x in enumerate(seq) if isinstance(x, Mapping)]


def _strings(obj: Any, key: str, parent: str) -> list[tuple[str, str]]:
    seq = obj.get(key) if isinstance(obj, Mapping) else None
    if not isinstance(seq, list):
        return []
    return [(f"{parent}.{key}[{i}]", x) for i, x in enumerate(seq) if isinstance(x, str)]


class _Checker:
    """Collects problems; each check reads only what it needs and skips malformed parts."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[tuple[str, str]] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append((location, message))

    def codes(self, items: list[Item]) -> dict[str, Mapping[str, Any]]:
        """Index items by code (first wins), reporting every repeat."""
        index: dict[str, Mapping[str, Any]] = {}
        first: dict[str, str] = {}
        for loc, item in items:
            code = item.get("code")
            if not isinstance(code, str):
                continue
            if code in index:
                self.add(f"{loc}.code", f"duplicate code {code!r} (first at {first[code]})")
            else:
                index[code], first[code] = item, loc
        return index

    def ref(self, loc: str, value: Any, known: Mapping[str, Any], what: str) -> bool:
        """Whether `value` names a known item; reports it (listing valid codes) when not."""
        if not isinstance(value, str):
            return False  # missing or mistyped: structural validation reports it
        if value in known:
            return True
        valid = ", ".join(sorted(known)[:20]) or "none defined"
        self.add(loc, f"unknown {what} {value!r} (known: {valid})")
        return False

    def serves(self, loc: str, dept: Mapping[str, Any], street: Any, why: str = "") -> None:
        served = dept.get("streets")
        if isinstance(street, str) and isinstance(served, list) and street not in served:
            self.add(loc, f"department {dept.get('code')!r} does not serve street {street!r}{why}")

    def run(self) -> list[tuple[str, str]]:
        d = self.data
        cals = self.codes(_items(d, "calendars"))
        slas = self.codes(_items(d, "sla_classes"))
        streets = self.codes(_items(d, "street_offices"))
        comms = self.codes(_items(d, "communities"))
        depts = self.codes(_items(d, "departments"))
        teams = self.codes(_items(d, "teams"))
        self.codes(_items(d, "pairings"))
        self.codes(_items(d, "categories"))
        # Grid codes are unique across communities: a grid code alone locates a report.
        self.codes([g for loc, c in _items(d, "communities") for g in _items(c, "grids", loc)])
        for loc, sla in _items(d, "sla_classes"):
            self.ref(f"{loc}.calendar", sla.get("calendar"), cals, "calendar")
            if sla.get("response_calendar") is not None:
                self.ref(f"{loc}.response_calendar", sla.get("response_calendar"), cals, "calendar")
        for loc, comm in _items(d, "communities"):
            self.ref(f"{loc}.street", comm.get("street"), streets, "street office")
        for loc, dept in _items(d, "departments"):
            for sloc, street in _strings(dept, "streets", loc):
                self.ref(sloc, street, streets, "street office")
        members = self.teams(comms)
        self.pairings(comms, teams, members)
        offered = {s for loc, t in _items(d, "teams") for _, s in _strings(t, "skills", loc)}
        for loc, cat in _items(d, "categories"):
            self.category(loc, cat, slas, streets, depts, offered)
        return self.problems

    def teams(self, comms: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
        """Check teams; return each team's members by code."""
        members: dict[str, dict[str, Mapping[str, Any]]] = {}
        for loc, team in _items(self.data, "teams"):
            for cloc, comm in _strings(team, "communities", loc):
                self.ref(cloc, comm, comms, "community")
            own = self.codes(_items(team, "members", loc))
            self.ref(f"{loc}.lead", team.get("lead"), own, "member of this team")
            if isinstance(team.get("code"), str):
                members.setdefault(team["code"], own)
        return members

    def pairings(
        self, comms: Mapping[str, Any], teams: Mapping[str, Mapping[str, Any]], members: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for loc, pair in _items(self.data, "pairings"):
            # Raw YAML values: `ref` checks each is a known code before it is used as one.
            comm: Any = pair.get("community")
            team: Any = pair.get("team")
            known_comm = self.ref(f"{loc}.community", comm, comms, "community")
            if not self.ref(f"{loc}.team", team, teams, "team"):
                continue
            self.ref(f"{loc}.volunteer", pair.get("volunteer"), members.get(team, {}), f"member of team {team!r}")
            served = teams[team].get("communities")
            if known_comm and isinstance(served, list) and comm not in served:
                self.add(f"{loc}.team", f"team {team!r} does not serve community {comm!r}")

    def category(
        self,
        loc: str,
        cat: Mapping[str, Any],
        slas: Mapping[str, Any],
        streets: Mapping[str, Any],
        depts: Mapping[str, Mapping[str, Any]],
        offered: set[str],
    ) -> None:
        self.ref(f"{loc}.sla_class", cat.get("sla_class"), slas, "SLA class")
        owned: set[str] = set()
        for oloc, owner in _items(cat, "owners", loc):
            street: Any = owner.get("street")  # raw YAML, checked by `ref`
            if self.ref(f"{oloc}.street", street, streets, "street office"):
                if street in owned:
                    self.add(f"{oloc}.street", f"street {street!r} has more than one owners entry")
                owned.add(street)
            for dloc, dept in _strings(owner, "departments", oloc):
                if self.ref(dloc, dept, depts, "department"):
                    self.serves(dloc, depts[dept], street)
        defaults = [
            (dl, dp) for dl, dp in _strings(cat, "default_departments", loc) if self.ref(dl, dp, depts, "department")
        ]
        has_defaults = bool(_strings(cat, "default_departments", loc))
        others = cat.get("volunteer_ok") is True or cat.get("street_fallback") is True
        for street in streets:
            if street in owned:
                continue
            for dloc, dept in defaults:
                self.serves(dloc, depts[dept], street, ", which has no owners entry")
            if not has_defaults and not others:
                self.add(
                    loc,
                    f"no owner anywhere for street {street!r}: no owners entry, no "
                    "default_departments and volunteer_ok is false (set street_fallback: "
                    "true if the street office takes these itself)",
                )
        for sloc, skill in _strings(cat, "skills", loc):
            if skill not in offered:
                self.add(sloc, f"no team offers skill {skill!r}")
        self.codes(_items(cat, "attributes", loc))
