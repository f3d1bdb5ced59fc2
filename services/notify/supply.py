"""以需定供: volunteer supply per skill against demand per category (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.catalogue import Catalogue


def supply_vs_demand(
    catalogue: Catalogue, *, street: str | None, open_by_category: Mapping[str, int]
) -> dict[str, Any]:
    """Per skill: team capacity serving the street's communities, and open cases of categories needing it.

    A case of a category that needs several skills counts towards each of them: any one of those
    skills could take it, so each skill's gap shows where more volunteers would help.
    """
    communities = {c.code for c in catalogue.communities if street is None or c.street == street}
    teams = [t for t in catalogue.teams if communities & set(t.communities)]
    skills: dict[str, dict[str, Any]] = {}
    for team in teams:
        for skill in team.skills:
            entry = skills.setdefault(skill, {"skill": skill, "capacity": 0, "teams": [], "members": 0, "demand": 0})
            entry["capacity"] += team.capacity
            entry["members"] += len(team.members)
            entry["teams"].append(team.code)
    categories = []
    for category in catalogue.categories:
        open_n = open_by_category.get(category.code, 0)
        categories.append(
            {
                "category": category.code,
                "name": category.name,
                "name_en": category.name_en,
                "open": open_n,
                "volunteer_ok": category.volunteer_ok,
                "skills": list(category.skills),
            }
        )
        if not category.volunteer_ok:
            continue
        for skill in category.skills:
            entry = skills.setdefault(skill, {"skill": skill, "capacity": 0, "teams": [], "members": 0, "demand": 0})
            entry["demand"] += open_n
    for entry in skills.values():
        entry["gap"] = entry["demand"] - entry["capacity"]
    ranked = sorted(skills.values(), key=lambda e: (-e["gap"], e["skill"]))
    return {"skills": ranked, "categories": sorted(categories, key=lambda c: (-c["open"], c["category"]))}
