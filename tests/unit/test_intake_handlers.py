"""Intake's status consumer, handler by handler, on an in-memory store (no Kafka, no PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.handlers import HANDLERS, KNOWN, StatusDeps, lock_batch_cases, on_deadline_armed, on_work_event
from shared.events import Assignee, CloudEvent, PoisonMessage, make_event
from shared.events.routing import CaseClosed, CaseProgressed, CaseReopened, CaseRouted, PriorityChanged
from shared.events.sla import DeadlineArmed, DeadlineKind
from shared.events.status import WORK_EVENTS, StatusChange
from shared.testing import handler_context, mismatched_handlers

T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DEPT = Assignee(kind="department", code="water")
RETENTION = timedelta(days=30)


@dataclass
class Case:
    status: str = "submitted"
    status_at: datetime = T - timedelta(days=1)
    expected_at: datetime | None = None
    changes: list[StatusChange] = field(default_factory=list)
    token_expiry: datetime | str | None = "unset"


@dataclass
class MemoryStatusStore:
    """The status consumer's store in memory: the newest event time wins, like the SQL."""

    cases: dict[str, Case] = field(default_factory=dict)

    async def lock_cases(self, conn: Any, *, case_ids: Sequence[str]) -> set[str]:
        return {c for c in case_ids if c in self.cases}

    async def apply_change(
        self, conn: Any, *, case_id: str, change: StatusChange, now: datetime, event_id: str
    ) -> bool:
        case = self.cases.get(case_id)
        if case is None:
            return False
        if change.at >= case.status_at:
            case.status, case.status_at = change.status, change.at
        case.changes.append(change)
        return True

    async def set_expected(
        self, conn: Any, *, case_id: str, due_at: datetime | None, at: datetime, now: datetime
    ) -> bool:
        case = self.cases.get(case_id)
        if case is None:
            return False
        case.expected_at = due_at
        return True

    async def status_of(self, conn: Any, *, case_id: str) -> tuple[str, datetime] | None:
        case = self.cases.get(case_id)
        return None if case is None else (case.status, case.status_at)

    async def set_token_expiry(self, conn: Any, *, case_id: str, expires_at: datetime | None) -> None:
        self.cases[case_id].token_expiry = expires_at


def _routed() -> CaseRouted:
    return CaseRouted(
        case_id="c1",
        category="water",
        description="d",
        community="c",
        street="s",
        assignee=DEPT,
        routed_at=T,
        submitted_at=T,
    )


def _setup(*case_ids: str) -> tuple[MemoryStatusStore, StatusDeps]:
    store = MemoryStatusStore({c: Case() for c in case_ids})
    return store, StatusDeps(store=store, token_retention=RETENTION)


def _envelope(event: Any, case_id: str = "c1", time: datetime = T) -> CloudEvent:
    return make_event(event, source="/test", subject=case_id, time=time)


async def _handle(deps: StatusDeps, event: Any, case_id: str = "c1") -> None:
    ctx = handler_context(deps)
    envelope = _envelope(event, case_id)
    await HANDLERS[type(event)](ctx, envelope, event)


def test_every_handler_takes_the_event_it_is_listed_for() -> None:
    assert mismatched_handlers(HANDLERS) == []


def test_the_table_is_routing_work_events_and_the_resolution_deadline() -> None:
    assert set(HANDLERS) == {*WORK_EVENTS, DeadlineArmed}
    assert all(HANDLERS[model] is on_work_event for model in WORK_EVENTS)
    assert PriorityChanged not in HANDLERS  # changes no status: intake does not consume it


async def test_a_work_event_moves_the_status_with_its_timeline_text() -> None:
    store, deps = _setup("c1")
    await _handle(deps, _routed())
    await _handle(deps, CaseProgressed(case_id="c1", assignee=DEPT, note="已派人", at=T + timedelta(hours=1)))
    case = store.cases["c1"]
    assert case.status == "in_progress"
    assert [c.status for c in case.changes] == ["routed", "in_progress"]
    assert case.changes[1].note == "已派人"
    assert case.token_expiry == "unset"  # only closing or reopening touches the tokens


async def test_an_unknown_case_is_poison() -> None:
    _, deps = _setup()
    with pytest.raises(PoisonMessage):
        await _handle(deps, CaseProgressed(case_id="nope", assignee=DEPT, note="n", at=T), "nope")


async def test_closing_sets_the_tokens_expiry_from_the_applied_status_and_reopening_clears_it() -> None:
    store, deps = _setup("c1")
    await _handle(deps, CaseClosed(case_id="c1", solved=True, closed_at=T))
    assert store.cases["c1"].token_expiry == T + RETENTION
    await _handle(
        deps, CaseReopened(case_id="c1", reason="again", assignee=DEPT, round=2, reopened_at=T + timedelta(hours=1))
    )
    assert store.cases["c1"].token_expiry is None


async def test_a_late_older_close_does_not_expire_the_tokens_of_a_reopened_case() -> None:
    store, deps = _setup("c1")
    await _handle(
        deps, CaseReopened(case_id="c1", reason="again", assignee=DEPT, round=2, reopened_at=T + timedelta(hours=1))
    )
    await _handle(deps, CaseClosed(case_id="c1", solved=True, closed_at=T))
    assert store.cases["c1"].status == "reopened"
    assert store.cases["c1"].token_expiry is None


def _deadline(kind: DeadlineKind, case_id: str = "c1") -> DeadlineArmed:
    return DeadlineArmed(case_id=case_id, kind=kind, started_at=T, due_at=T + timedelta(days=2))


async def test_the_resolution_deadline_is_the_expected_time() -> None:
    store, deps = _setup("c1")
    await _handle(deps, _deadline("resolution"))
    assert store.cases["c1"].expected_at == T + timedelta(days=2)


async def test_other_deadlines_only_prove_the_case_exists_as_the_batch_found_it() -> None:
    store, deps = _setup("c1")
    ctx = handler_context(deps)
    event, stranger = _deadline("response"), _deadline("response", "c2")
    await lock_batch_cases(ctx, [(_envelope(event), event), (_envelope(stranger, "c2"), stranger)])
    assert ctx.scratch(KNOWN, set[str]) == {"c1"}
    await on_deadline_armed(ctx, _envelope(event), event)
    assert store.cases["c1"].expected_at is None
    with pytest.raises(PoisonMessage):
        await on_deadline_armed(ctx, _envelope(stranger, "c2"), stranger)
