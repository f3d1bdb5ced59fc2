"""An in-memory twin of routing's CaseStore (services/routing/cases/store): the same effects, no SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.routing.cases.store import Assignment, Case, NewCase
from shared.events import Assignee

SETTABLE = {"signed_at", "first_feedback_at", "resolved_at", "closed_at", "round", "priority", "member", "category"}


@dataclass
class Step:
    case_id: str
    round: int
    action: str
    actor: str
    note: str | None
    at: datetime


@dataclass
class MemoryCaseStore:
    """Cases, decisions, declines, steps and team loads in dicts and lists; the connection is ignored."""

    cases: dict[str, Case] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)
    decisions: list[tuple[str, int, Assignment]] = field(default_factory=list)
    declines: list[tuple[str, int, Assignee, str, str | None]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def _set(self, case_id: str, **changes: Any) -> Case:
        self.cases[case_id] = replace(self.cases[case_id], **changes)
        return self.cases[case_id]

    async def insert_cases(self, conn: Any, cases: Sequence[NewCase], *, now: datetime) -> dict[str, Case]:
        new: dict[str, Case] = {}
        for c in cases:
            if c.case_id in self.cases:
                continue
            self.cases[c.case_id] = new[c.case_id] = Case(
                case_id=c.case_id,
                category=c.need.get("category"),
                community=c.need["community"],
                street=c.need["street"],
                priority=c.need.get("priority", "normal"),
                status="new",
                assignee=None,
                co_handlers=(),
                member=None,
                attempt=0,
                decided_by="rules",
                final=False,
                decline_count=0,
                round=1,
                team_slot=None,
                need=dict(c.need),
                submitted_at=c.submitted_at,
                updated_at=now,
                signed_at=None,
                first_feedback_at=None,
                resolved_at=None,
                closed_at=None,
            )
        return new

    async def get_case(self, conn: Any, *, case_id: str, for_update: bool = False) -> Case | None:
        return self.cases.get(case_id)

    async def record_assignments(
        self, conn: Any, assignments: Sequence[Assignment], *, now: datetime
    ) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in assignments:
            if a.case_id not in self.cases:
                continue
            case = self._set(
                a.case_id,
                status="routed",
                assignee=a.assignee,
                co_handlers=tuple(a.co_handlers),
                member=a.member,
                decided_by=a.decided_by,
                final=a.final,
                attempt=self.cases[a.case_id].attempt + 1,
                signed_at=None,
                updated_at=now,
            )
            self.decisions.append((a.case_id, case.attempt, a))
            out[a.case_id] = case.attempt
        return out

    async def set_arbitration(self, conn: Any, *, case_id: str, street: str, now: datetime) -> None:
        self._set(
            case_id,
            status="arbitration",
            assignee=Assignee(kind="street_office", code=street),
            co_handlers=(),
            member=None,
            signed_at=None,
            updated_at=now,
        )

    async def set_status(self, conn: Any, *, case_id: str, status: str, now: datetime, **stamps: Any) -> None:
        if unknown := set(stamps) - SETTABLE:
            raise ValueError(f"not settable: {sorted(unknown)}")
        self._set(case_id, status=status, updated_at=now, **stamps)

    async def set_need_category(self, conn: Any, *, case_id: str, category: str) -> None:
        self._set(case_id, category=category, need={**self.cases[case_id].need, "category": category})

    async def team_loads(self, conn: Any) -> dict[str, int]:
        return dict(self.loads)

    async def take_team_slot(self, conn: Any, *, case_id: str, team: str, capacity: int, force: bool = False) -> bool:
        if not force and self.loads.get(team, 0) >= capacity:
            return False
        self.loads[team] = self.loads.get(team, 0) + 1
        self._set(case_id, team_slot=team)
        return True

    async def release_team_slot(self, conn: Any, *, case_id: str) -> str | None:
        team = self.cases[case_id].team_slot
        if team is not None:
            self._set(case_id, team_slot=None)
            self.loads[team] = max(self.loads.get(team, 0) - 1, 0)
        return team

    async def add_decline(
        self,
        conn: Any,
        *,
        case_id: str,
        attempt: int,
        assignee: Assignee,
        reason_code: str,
        reason_text: str | None,
        now: datetime,
    ) -> int:
        self.declines.append((case_id, attempt, assignee, reason_code, reason_text))
        return self._set(case_id, decline_count=self.cases[case_id].decline_count + 1, updated_at=now).decline_count

    async def decliners(self, conn: Any, *, case_id: str) -> list[Assignee]:
        return list(dict.fromkeys(a for c, _, a, _, _ in self.declines if c == case_id))

    async def previous_assignees(self, conn: Any, *, case_id: str) -> list[Assignee]:
        ordered = sorted((d for d in self.decisions if d[0] == case_id), key=lambda d: d[1])
        return list(dict.fromkeys(a.assignee for _, _, a in ordered))

    async def add_step(
        self, conn: Any, *, case_id: str, round_: int, action: str, actor: str, note: str | None, at: datetime
    ) -> None:
        self.steps.append(Step(case_id, round_, action, actor, note, at))
