"""Who an event concerns: pure rules from the case projection and the event to topics and visibility."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.notify.projection import CaseState
from shared.auth import Principal
from shared.events import Assignee, EventData
from shared.events.routing import ArbitrationRequested, CaseClosed, CaseRouted
from shared.events.sla import CaseEscalated
from shared.topics import audience_topic


@dataclass(frozen=True)
class Audience:
    """Everyone an event concerns: the street, departments and teams (lead first), linked reporters."""

    case_id: str
    street: str | None
    department: str | None = None
    team: str | None = None
    co_departments: tuple[str, ...] = ()
    co_teams: tuple[str, ...] = ()
    submission_ids: tuple[str, ...] = ()

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for c in (self.department, *self.co_departments) if c))

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for c in (self.team, *self.co_teams) if c))

    def topics(self) -> list[str]:
        """The audience topics this event goes to (street.<code>, dept.<code>, team.<code>)."""
        topics = [audience_topic("street_office", self.street)] if self.street else []
        topics += [audience_topic("department", code) for code in self.departments]
        topics += [audience_topic("team", code) for code in self.teams]
        return topics

    def visible_to(self, principal: Principal) -> bool:
        """Whether this caller may see the event (SSE, subscriptions)."""
        if principal.role == "admin":
            return True
        if principal.case_id is not None:
            return principal.case_id == self.case_id or principal.case_id in self.submission_ids
        if principal.role in ("street_office", "grid_worker"):
            return principal.scope is None or principal.scope == self.street
        if principal.role == "department":
            return principal.scope in self.departments
        if principal.role == "team":
            return principal.scope in self.teams
        return False


def _involved(payload: EventData | None) -> list[Assignee]:
    """Parties an event names besides the case's current owners."""
    named: list[Assignee] = []
    if payload is None:
        return named
    for attr in ("assignee",):
        value = getattr(payload, attr, None)
        if isinstance(value, Assignee):
            named.append(value)
    if isinstance(payload, CaseRouted | ArbitrationRequested):
        named += payload.previous_assignees
    if isinstance(payload, CaseRouted):
        named += payload.co_handlers
    if isinstance(payload, CaseEscalated) and payload.target_kind != "district":
        named.append(Assignee(kind=payload.target_kind, code=payload.target_code))
    if isinstance(payload, CaseClosed) and payload.assignee:
        named.append(payload.assignee)
    return named


def audience_for(
    *, before: CaseState, after: CaseState, payload: EventData | None, submission_ids: Iterable[str] = ()
) -> Audience:
    """The current owners, everyone the event names, and owners the event just took the case from."""
    parties = after.owners() + [p for p in before.owners() if p not in after.owners()] + _involved(payload)
    departments = list(dict.fromkeys(p.code for p in parties if p.kind == "department"))
    teams = list(dict.fromkeys(p.code for p in parties if p.kind == "team"))
    return Audience(
        case_id=after.case_id,
        street=after.street,
        department=departments[0] if departments else None,
        team=teams[0] if teams else None,
        co_departments=tuple(departments[1:]),
        co_teams=tuple(teams[1:]),
        submission_ids=tuple(submission_ids),
    )
