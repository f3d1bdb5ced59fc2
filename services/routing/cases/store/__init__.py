"""Routing's case SQL (cases, and each case's work record), and the CaseStore the service layer writes through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.routing.cases.store.cases import (
    Assignment,
    Case,
    Connection,
    Executor,
    History,
    NewCase,
    get_case,
    history,
    insert_cases,
    list_cases,
    record_assignments,
    set_arbitration,
    set_need_category,
    set_status,
    to_case,
)
from services.routing.cases.store.work import (
    add_decline,
    add_step,
    decliners,
    previous_assignees,
    release_team_slot,
    take_team_slot,
    team_loads,
)
from shared.events import Assignee


class CaseStore(Protocol):
    """What the workflow writes and reads in a transaction: this package's functions, or an in-memory twin."""

    async def insert_cases(self, conn: Connection, cases: Sequence[NewCase], *, now: datetime) -> dict[str, Case]: ...
    async def get_case(self, conn: Connection, *, case_id: str, for_update: bool = False) -> Case | None: ...
    async def record_assignments(
        self, conn: Connection, assignments: Sequence[Assignment], *, now: datetime
    ) -> dict[str, int]: ...
    async def set_arbitration(self, conn: Connection, *, case_id: str, street: str, now: datetime) -> None: ...
    async def set_status(
        self, conn: Connection, *, case_id: str, status: str, now: datetime, **stamps: Any
    ) -> None: ...
    async def set_need_category(self, conn: Connection, *, case_id: str, category: str) -> None: ...
    async def team_loads(self, conn: Connection) -> dict[str, int]: ...
    async def take_team_slot(
        self, conn: Connection, *, case_id: str, team: str, capacity: int, force: bool = False
    ) -> bool: ...
    async def release_team_slot(self, conn: Connection, *, case_id: str) -> str | None: ...
    async def add_decline(
        self,
        conn: Connection,
        *,
        case_id: str,
        attempt: int,
        assignee: Assignee,
        reason_code: str,
        reason_text: str | None,
        now: datetime,
    ) -> int: ...
    async def decliners(self, conn: Connection, *, case_id: str) -> list[Assignee]: ...
    async def previous_assignees(self, conn: Connection, *, case_id: str) -> list[Assignee]: ...
    async def add_step(
        self, conn: Connection, *, case_id: str, round_: int, action: str, actor: str, note: str | None, at: datetime
    ) -> None: ...


__all__ = [
    "Assignment",
    "Case",
    "CaseStore",
    "Connection",
    "Executor",
    "History",
    "NewCase",
    "add_decline",
    "add_step",
    "decliners",
    "get_case",
    "history",
    "insert_cases",
    "list_cases",
    "previous_assignees",
    "record_assignments",
    "release_team_slot",
    "set_arbitration",
    "set_need_category",
    "set_status",
    "take_team_slot",
    "team_loads",
    "to_case",
]
