"""Who should act on a need: pure rules over the catalogue, with reasons for every choice."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from shared.catalogue import Catalogue
from shared.events import Assignee


@dataclass(frozen=True)
class NeedFacts:
    """The facts about a need that routing decides on."""

    category: str | None
    community: str
    street: str
    vulnerable: bool = False
    pairing_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """The chosen assignee, co-handlers, and why."""

    assignee: Assignee
    co_handlers: tuple[Assignee, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)


def decide(need: NeedFacts, catalogue: Catalogue, *, exclude: Collection[Assignee] = ()) -> Decision:
    """Rule order: responsible department (lead first), then a fitting volunteer team, then the street office."""
    reasons: list[str] = []
    category = catalogue.category(need.category) if need.category else None
    if category is None:
        reasons.append("no category: the street office triages it (兜底)")
        return Decision(Assignee(kind="street_office", code=need.street), reasons=tuple(reasons))
    departments = [
        Assignee(kind="department", code=code) for code in catalogue.responsible_departments(category.code, need.street)
    ]
    candidates = [d for d in departments if d not in exclude]
    if candidates:
        lead, *co = candidates
        reasons.append(f"department {lead.code} is responsible for {category.code} in {need.street}")
        if co:
            reasons.append("lead 首接负责 with co-handlers " + ", ".join(c.code for c in co))
        return Decision(lead, tuple(co), tuple(reasons))
    if departments:
        reasons.append("every responsible department declined")
    if category.volunteer_ok:
        for team in catalogue.teams_for(category.code, need.community):
            candidate = Assignee(kind="team", code=team.code)
            if candidate not in exclude:
                reasons.append(f"volunteer team {team.code} has the skills and serves {need.community}")
                return Decision(candidate, reasons=tuple(reasons))
    reasons.append("no owner left: the street office takes it (兜底)")
    return Decision(Assignee(kind="street_office", code=need.street), reasons=tuple(reasons))
