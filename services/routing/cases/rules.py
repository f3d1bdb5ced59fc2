"""Who should act on a need: pure rules over the catalogue, with reasons for every choice.

Rule order (first fit wins; a team must also have spare capacity):
1. volunteer-ok category and a paired resident: the paired volunteer's team (结对), if it has a fitting skill;
2. volunteer-ok category: the teams serving the community with a fitting skill, most spare capacity first;
3. the responsible departments for the category in the street: the first is the lead (首接负责), the rest co-handle;
4. the street office itself (兜底).
A decliner is never a candidate again. `category=None` (intake was unsure) goes to the street office for triage.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shared.catalogue import Catalogue, Category, Team
from shared.events import Assignee

Rule = Literal["paired", "team", "department", "street_fallback", "triage"]


class UnknownPlace(ValueError):
    """The need names a street the catalogue does not know: nobody can be chosen."""


@dataclass(frozen=True)
class NeedFacts:
    """The facts about a need that routing decides on."""

    category: str | None
    community: str
    street: str
    vulnerable: bool = False
    pairing_id: str | None = None
    priority: str = "normal"


@dataclass(frozen=True)
class Decision:
    """One candidate: the assignee, co-handlers, the paired member, which rule chose it, and why."""

    assignee: Assignee
    co_handlers: tuple[Assignee, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)
    rule: Rule = "department"
    member: str | None = None

    @property
    def needs_capacity(self) -> bool:
        """Whether taking this candidate uses a slot of a team's capacity."""
        return self.assignee.kind == "team"

    def with_note(self, note: str) -> Decision:
        """The same candidate with `note` added in front of its reasons."""
        return Decision(self.assignee, self.co_handlers, (note, *self.reasons), self.rule, self.member)


def decide(
    need: NeedFacts,
    catalogue: Catalogue,
    *,
    loads: Mapping[str, int] | None = None,
    exclude: Collection[Assignee] = (),
) -> Decision:
    """The best candidate for `need` (see the rule order above)."""
    return rank(need, catalogue, loads=loads, exclude=exclude)[0]


def rank(
    need: NeedFacts,
    catalogue: Catalogue,
    *,
    loads: Mapping[str, int] | None = None,
    exclude: Collection[Assignee] = (),
) -> list[Decision]:
    """Every candidate in rule order; the last one is always the street office.

    `loads` maps a team code to its open cases; `exclude` holds everyone who declined the case.
    Each candidate's reasons say why it fits and why those before it were passed over.
    """
    loads = loads or {}
    if catalogue.street(need.street) is None:
        raise UnknownPlace(f"unknown street {need.street!r}")
    street_office = Assignee(kind="street_office", code=need.street)
    if need.category is None:
        return [Decision(street_office, reasons=("no category: the street office triages it",), rule="triage")]
    category = catalogue.category(need.category)
    if category is None:
        reason = f"category {need.category!r} is not in catalogue v{catalogue.version}: the street office triages it"
        return [Decision(street_office, reasons=(reason,), rule="triage")]
    skipped: list[str] = []
    out: list[Decision] = []
    if category.volunteer_ok:
        out += _volunteer_candidates(need, category, catalogue, loads, exclude, skipped)
    department = _department_candidate(need, category, catalogue, exclude, skipped)
    if department is not None:
        out.append(department)
    if category.street_fallback and not out:
        why = f"category {category.code} is handled by the street office itself (兜底)"
    else:
        why = "no owner left: the street office takes it (兜底)"
    out.append(Decision(street_office, reasons=(*skipped, why), rule="street_fallback"))
    return out


def _volunteer_candidates(
    need: NeedFacts,
    category: Category,
    catalogue: Catalogue,
    loads: Mapping[str, int],
    exclude: Collection[Assignee],
    skipped: list[str],
) -> list[Decision]:
    """The paired team first, then fitting teams by most spare capacity; notes passed-over teams in `skipped`."""
    out: list[Decision] = []
    paired_team: str | None = None
    if need.pairing_id:
        paired = _paired_candidate(need, category, catalogue, loads, exclude, skipped)
        if paired is not None:
            out.append(paired)
            paired_team = paired.assignee.code
    if catalogue.community(need.community) is None:
        skipped.append(f"community {need.community!r} is not in the catalogue: no volunteer team serves it")
        return out
    fitting = [t for t in catalogue.teams_for(category.code, need.community) if t.code != paired_team]
    if not fitting and paired_team is None:
        skipped.append(f"no volunteer team with a {_skills(category)} skill serves {need.community}")
    open_teams: list[Team] = []
    for team in fitting:
        if Assignee(kind="team", code=team.code) in exclude:
            skipped.append(f"team {team.code} declined before")
        elif _spare(team, loads) <= 0:
            skipped.append(f"team {team.code} is at capacity ({loads.get(team.code, 0)}/{team.capacity})")
        else:
            open_teams.append(team)
    # Least load = most spare capacity; the catalogue's order breaks ties (sorted is stable).
    open_teams.sort(key=lambda t: -_spare(t, loads))
    for team in open_teams:
        skills = ", ".join(s for s in team.skills if s in category.skills)
        why = (
            f"volunteer team {team.code} has the skill ({skills}) for {category.code}, serves {need.community} "
            f"and has the most spare capacity ({_spare(team, loads)} of {team.capacity})"
        )
        out.append(Decision(Assignee(kind="team", code=team.code), reasons=(*skipped, why), rule="team"))
        skipped.append(f"team {team.code} was offered before")
    return out


def _paired_candidate(
    need: NeedFacts,
    category: Category,
    catalogue: Catalogue,
    loads: Mapping[str, int],
    exclude: Collection[Assignee],
    skipped: list[str],
) -> Decision | None:
    """The paired volunteer's team when it fits; otherwise notes why not and returns None."""
    pairing = catalogue.pairing(need.pairing_id or "")
    if pairing is None:
        skipped.append(f"pairing {need.pairing_id!r} is not in the catalogue")
        return None
    team = catalogue.team(pairing.team)
    if team is None:  # the catalogue checks forbid this; kept for a hand-built catalogue
        skipped.append(f"pairing {pairing.code}: team {pairing.team!r} is not in the catalogue")
        return None
    if not set(team.skills) & set(category.skills):
        skipped.append(f"paired team {team.code} has no {_skills(category)} skill for {category.code}")
        return None
    if Assignee(kind="team", code=team.code) in exclude:
        skipped.append(f"paired team {team.code} declined before")
        return None
    if _spare(team, loads) <= 0:
        skipped.append(f"paired team {team.code} is at capacity ({loads.get(team.code, 0)}/{team.capacity})")
        return None
    why = (
        f"paired resident (结对 {pairing.code}): the paired volunteer {pairing.volunteer} of team {team.code} "
        f"goes first ({_spare(team, loads)} of {team.capacity} spare)"
    )
    decision = Decision(
        Assignee(kind="team", code=team.code), reasons=(*skipped, why), rule="paired", member=pairing.volunteer
    )
    skipped.append(f"paired team {team.code} was offered before")
    return decision


def _department_candidate(
    need: NeedFacts,
    category: Category,
    catalogue: Catalogue,
    exclude: Collection[Assignee],
    skipped: list[str],
) -> Decision | None:
    """The lead department with its co-handlers, skipping decliners; notes in `skipped` when none is left."""
    codes = catalogue.responsible_departments(category.code, need.street)
    if not codes:
        skipped.append(f"no department owns {category.code} in {need.street}")
        return None
    departments = [Assignee(kind="department", code=c) for c in codes]
    declined = [d.code for d in departments if d in exclude]
    left = [d for d in departments if d not in exclude]
    notes = [f"department {code} declined before" for code in declined]
    if not left:
        skipped.extend(notes)
        return None
    lead, *co = left
    where = "per its owners entry" if any(o.street == need.street for o in category.owners) else "by default"
    reasons = [
        *skipped,
        *notes,
        f"department {lead.code} is responsible for {category.code} in {need.street} ({where})",
    ]
    if co:
        reasons.append(f"{lead.code} leads (首接负责); co-handlers: {', '.join(c.code for c in co)}")
    skipped.extend(notes)
    skipped.append(f"department {lead.code} was offered before")
    return Decision(lead, tuple(co), tuple(reasons), rule="department")


def may_use_teams(need: NeedFacts, catalogue: Catalogue) -> bool:
    """Whether a volunteer team could be chosen for `need` (so team loads matter)."""
    category = catalogue.category(need.category) if need.category else None
    return category is not None and category.volunteer_ok


def _spare(team: Team, loads: Mapping[str, int]) -> int:
    return team.capacity - loads.get(team.code, 0)


def _skills(category: Category) -> str:
    return "/".join(category.skills)


def sla_class_for(category_code: str | None, priority: str, catalogue: Catalogue) -> str | None:
    """The SLA class of a case: the category's, tightened to `emergency` when the priority is emergency."""
    if priority == "emergency" and catalogue.sla_class("emergency") is not None:
        return "emergency"
    category = catalogue.category(category_code) if category_code else None
    return category.sla_class if category else None
