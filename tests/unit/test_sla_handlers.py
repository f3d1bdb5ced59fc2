"""sla's handler table and use cases without Kafka or PostgreSQL (shared.testing; the store faked per test)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.sla import clocks, handlers, service_layer, store
from services.sla.clocks import Deadline
from services.sla.handlers import HANDLERS
from services.sla.pending import PendingWrites
from services.sla.policy import PolicyCache
from services.sla.service_layer import SlaDeps
from services.sla.watermarks import forward, horizon, known_through
from shared.catalogue import Catalogue, load_catalogue
from shared.clock import ManualClock
from shared.errors import Conflict, NotFound
from shared.events import Assignee, PoisonMessage, make_event
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import (
    CaseAwaitingResident,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseReopened,
    CaseResolved,
    CaseResumed,
    CaseRouted,
    CaseSigned,
    PriorityChanged,
)
from shared.settings import REPO_ROOT
from shared.testing import FakeOutbox, InMemoryUnitOfWork, handler_context, mismatched_handlers
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
URBAN = Assignee(kind="department", code="urban_mgmt")
CASE = {
    "case_id": "c-1",
    "street": "wanxing",
    "community": "jinrongjie",
    "category": "street_light_out",
    "assignee_kind": "department",
    "assignee_code": "urban_mgmt",
    "co_handlers": "[]",
    "round": 1,
    "awaiting_since": None,
    "paused_at": None,
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(REPO_ROOT / "catalogue" / "demo.yaml")


@pytest.fixture
def deps(catalogue: Catalogue) -> SlaDeps:
    return SlaDeps(
        catalogue=lambda: catalogue,
        policy_cache=PolicyCache(default_class="general"),
        clock=ManualClock(T0 + H / 2),
        max_sleep=30.0,
        timer_channel="sla_timers",
    )


class FakeStore:
    """The store functions the tested paths call, recording writes (installed over services.sla.store)."""

    def __init__(self, case: dict[str, Any] | None, deadlines: list[Deadline]) -> None:
        self.case = case
        self.deadlines = deadlines
        self.saved: list[Deadline] = []
        self.updates: list[dict[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "lock_case",
            "get_case",
            "load_deadlines",
            "save_deadline",
            "drop_timers",
            "fired_steps",
            "insert_timers",
            "notify_timers",
            "update_case",
        ):
            monkeypatch.setattr(store, name, getattr(self, name))

    async def lock_case(self, conn: Any, *, case_id: str) -> dict[str, Any] | None:
        return self.case

    get_case = lock_case

    async def load_deadlines(self, conn: Any, *, case_id: str) -> list[Deadline]:
        return list(self.deadlines)

    async def save_deadline(self, conn: Any, d: Deadline, *, street: str | None) -> tuple[int, int]:
        self.saved.append(d)
        return d.id or 1, 2

    async def drop_timers(self, conn: Any, *, deadline_id: int) -> None:
        return None

    async def fired_steps(self, conn: Any, *, deadline_ids: Any) -> dict[int, set[str]]:
        return {}

    async def insert_timers(self, conn: Any, rows: Any) -> None:
        return None

    async def notify_timers(self, conn: Any, channel: str) -> None:
        return None

    async def update_case(self, conn: Any, *, case_id: str, **fields: Any) -> None:
        self.updates.append(fields)


def _response(deps: SlaDeps) -> Deadline:
    policies = deps.policies()
    d = clocks.arm(
        case_id="c-1",
        kind="response",
        round_=1,
        attempt=1,
        assignee=URBAN,
        cls=policies.sla_class("utilities"),
        started_at=T0,
        paused_at=None,
        policies=policies,
    )
    return replace(d, id=7)


def _envelope(payload: Any) -> Any:
    return make_event(payload, source="/test", subject=payload.case_id, time=T0)


def test_every_handler_takes_the_event_it_is_listed_for() -> None:
    assert mismatched_handlers(HANDLERS) == []


def test_the_table_lists_every_event_sla_reacts_to() -> None:
    assert set(HANDLERS) == {
        NeedSubmitted,
        FeedbackReceived,
        CaseRouted,
        CaseSigned,
        CaseDeclined,
        CaseProgressed,
        CaseAwaitingResident,
        CaseResumed,
        PriorityChanged,
        CaseResolved,
        CaseReopened,
        CaseClosed,
    }
    assert handlers.INPUT_TOPICS == (ROUTING_EVENTS, INTAKE_EVENTS)


async def test_a_sign_in_time_stops_the_response_clock_and_counts_once(
    deps: SlaDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeStore(CASE, [_response(deps)])
    fake.install(monkeypatch)
    outbox = FakeOutbox()
    ctx = handler_context(deps, outbox=outbox)
    signed = CaseSigned(case_id="c-1", assignee=URBAN, signed_at=T0 + H / 2)
    await HANDLERS[CaseSigned](ctx, _envelope(signed), signed)
    [(_, event)] = outbox.events
    assert event.type == "lastmeter.sla.deadline_stopped"
    assert event.data["met"] is True
    assert event.data["kind"] == "response"
    assert [d.status for d in fake.saved] == ["met"]
    pending = ctx.scratch("pending", PendingWrites)
    assert {i.counter for i in pending.increments} == {"signed_in_time"}


async def test_an_event_for_a_case_sla_never_saw_routed_is_poison(
    deps: SlaDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeStore(None, []).install(monkeypatch)
    signed = CaseSigned(case_id="c-1", assignee=URBAN, signed_at=T0)
    with pytest.raises(PoisonMessage):
        await HANDLERS[CaseSigned](handler_context(deps), _envelope(signed), signed)


async def test_feedback_for_an_unknown_case_counts_nothing(deps: SlaDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStore(None, []).install(monkeypatch)
    ctx = handler_context(deps)
    answer = FeedbackReceived.model_construct(case_id="c-1", satisfaction="satisfied", received_at=T0)
    await HANDLERS[FeedbackReceived](ctx, _envelope(answer), answer)
    assert ctx.scratch("pending", PendingWrites).increments == []


async def test_pause_refuses_a_case_that_does_not_wait_and_rolls_back(
    deps: SlaDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeStore(CASE, [_response(deps)]).install(monkeypatch)
    uow = InMemoryUnitOfWork(store=None)
    with pytest.raises(Conflict) as info:
        await service_layer.pause(uow, deps, case_id="c-1")  # type: ignore[arg-type]  # the in-memory twin
    assert info.value.code == "not_awaiting_resident"
    assert uow.rollbacks == 1
    assert uow.published == []


async def test_pause_publishes_the_paused_clocks_in_its_transaction(
    deps: SlaDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeStore({**CASE, "awaiting_since": T0}, [_response(deps)])
    fake.install(monkeypatch)
    uow = InMemoryUnitOfWork(store=None)
    await service_layer.pause(uow, deps, case_id="c-1")  # type: ignore[arg-type]  # the in-memory twin
    assert uow.commits == 1
    assert [e.data["reason"] for _, e in uow.published] == ["paused"]
    assert fake.updates == [{"paused_at": T0 + H / 2}]


async def test_resume_of_an_unknown_case_is_not_found(deps: SlaDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStore(None, []).install(monkeypatch)
    with pytest.raises(NotFound):
        await service_layer.resume(InMemoryUnitOfWork(store=None), deps, case_id="nope")  # type: ignore[arg-type]  # the in-memory twin


# --- the input watermark (docs/sla.md, "After an outage") ---------------------------------------

P0, P1 = TopicPartition("r", 0), TopicPartition("r", 1)


def test_a_partition_is_known_through_the_later_of_applied_and_caught_up() -> None:
    marks = known_through({P0: T0, P1: T0 + H}, {P0: T0 + 2 * H}, assigned={P0, P1})
    assert marks == {("r", 0): T0 + 2 * H, ("r", 1): T0 + H}


def test_partitions_not_assigned_here_or_never_read_say_nothing() -> None:
    assert known_through({P0: T0}, {}, assigned={P1}) == {}
    assert known_through({}, {}, assigned={P0}) == {}


def test_the_timer_horizon_is_held_back_to_the_low_watermark_and_never_past_now() -> None:
    assert horizon(T0 + 3 * H, T0 + H) == T0 + H
    assert horizon(T0, T0 + H) == T0
    assert horizon(T0, None) is None  # an input nobody has read yet holds every timer


def test_only_marks_that_moved_forward_are_written() -> None:
    written = {("r", 0): T0 + H}
    assert forward({("r", 0): T0 + H, ("r", 1): T0}, written) == {("r", 1): T0}
    assert forward({("r", 0): T0}, written) == {}
    assert forward({("r", 0): T0 + 2 * H}, written) == {("r", 0): T0 + 2 * H}
