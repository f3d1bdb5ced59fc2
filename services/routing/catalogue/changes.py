"""What a catalogue change is: every problem listed at once, and a summary of what changed (pure)."""

from __future__ import annotations

from typing import Any

from shared.catalogue import Catalogue
from shared.errors import DomainError, InvalidInput

_LISTS = ("calendars", "sla_classes", "street_offices", "communities", "departments", "teams", "pairings", "categories")


class InvalidCatalogue(InvalidInput):
    """A 422 listing every problem with its location; nothing was applied."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        DomainError.__init__(
            self,
            f"the catalogue has {len(problems)} problem(s); nothing was applied",
            code="invalid_catalogue",
            fields=[{"field": loc, "message": msg} for loc, msg in problems],
        )
        self.field = problems[0][0] if problems else "(body)"


def summarise(old: Catalogue, new: Catalogue) -> dict[str, dict[str, list[str]]]:
    """Per list, the codes added, removed and changed (lists without changes are left out)."""
    out: dict[str, dict[str, list[str]]] = {}
    before, after = old.to_dict(), new.to_dict()
    for key in _LISTS:
        a = {i["code"]: i for i in before.get(key, [])}
        b = {i["code"]: i for i in after.get(key, [])}
        diff = {
            "added": sorted(set(b) - set(a)),
            "removed": sorted(set(a) - set(b)),
            "changed": sorted(c for c in set(a) & set(b) if a[c] != b[c]),
        }
        if any(diff.values()):
            out[key] = {k: v for k, v in diff.items() if v}
    others = [k for k in after if k not in (*_LISTS, "version") and before.get(k) != after.get(k)]
    if others:
        out["settings"] = {"changed": sorted(others)}
    return out


def same_content(a: Catalogue, b: Catalogue) -> bool:
    """Equal apart from the version number."""
    return {**a.to_dict(), "version": 0} == {**b.to_dict(), "version": 0}


def base_version(value: Any) -> int | None:
    """The `version` a change says it started from, or None when it says none."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidCatalogue([("version", f"must be the whole number of the version you edited (got {value!r})")])
    return value
