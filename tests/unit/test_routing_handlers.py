"""Routing's HANDLERS and use cases in memory (shared.testing): no broker, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from services.routing import handlers
from services.routing.cases import service_layer, workflow
from services.routing.cases.service_layer import RoutingBatch
from services.routing.cases.store import Case
from services.routing.catalogue.changes import InvalidCatalogue, base_version
from services.routing.handlers import HANDLERS, RoutingDeps, consumers
from services.routing.settings import RoutingSettings
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.clock import ManualClock
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import Assignee, PoisonMessage, make_event
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import CaseRouted
from shared.http import api_error_of
from shared.runtime import NoExtras
from shared.service import ServiceRuntime
from shared.testing import FakeOutbox, InMemoryUnitOfWork, handler_context, mismatched_handlers
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS
from tests.unit.fakes.routing_store import MemoryCaseStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WATER = Assignee(kind="department", code="water")


def need(**overrides: Any) -> NeedSubmitted:
    fields: dict[str, Any] = {
        "case_id": "c-1",
        "category": "street_light_out",
        "description": "路灯不亮",
        "community": "jinrongjie",
        "street": "wanxing",
        "submitted_at": T0,
    }
    return NeedSubmitted(**{**fields, **overrides})


def new_case(submitted: NeedSubmitted) -> Case:
    """The row routing records for a new need (what `prepare` leaves in the batch)."""
    return Case(
        case_id=submitted.case_id,
        category=submitted.category,
        community=submitted.community,
        street=submitted.street,
        priority=submitted.priority,
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
        need=submitted.model_dump(mode="json"),
        submitted_at=submitted.submitted_at,
        updated_at=T0,
        signed_at=None,
        first_feedback_at=None,
        resolved_at=None,
        closed_at=None,
    )


def envelope(data: NeedSubmitted) -> Any:
    return make_event(data, source="/test", subject=data.case_id, time=T0)


def context(catalogue: Catalogue, store: MemoryCaseStore | None = None) -> tuple[Any, FakeOutbox]:
    outbox = FakeOutbox()
    deps = RoutingDeps(catalogue=lambda: catalogue, store=store or MemoryCaseStore())
    return handler_context(deps, clock=ManualClock(T0), outbox=outbox), outbox


def feedback(*, reopen: bool, round_: int = 1, solved: bool | None = None) -> FeedbackReceived:
    return FeedbackReceived(
        case_id="c-1",
        round=round_,
        solved=not reopen if solved is None else solved,
        satisfaction="dissatisfied" if reopen else "satisfied",
        comment="还是不亮" if reopen else None,
        reopen=reopen,
        received_at=T0,
    )


def resolved_case(assignee: Assignee, *, team_slot: str | None = None) -> Case:
    return replace(new_case(need()), status="resolved", assignee=assignee, attempt=1, team_slot=team_slot)


def test_each_handler_takes_the_event_it_is_listed_for() -> None:
    assert mismatched_handlers(HANDLERS) == []
    assert set(HANDLERS) == {NeedSubmitted, FeedbackReceived}


def test_one_consumer_of_intake_events_reading_the_catalogue_in_force(catalogue: Catalogue) -> None:
    settings = RoutingSettings(database_url="postgresql://u@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1")
    rt = ServiceRuntime(settings, extras=NoExtras(), migrations=None, catalogue=catalogue)
    [spec] = consumers(rt)
    # The name is the consumer group's suffix: renaming it would re-read every intake event.
    assert (spec.name, list(spec.topics), spec.handlers) == ("decide", [INTAKE_EVENTS], HANDLERS)
    assert (spec.prepare, spec.flush) == (handlers.prepare, handlers.flush)
    assert spec.deps.catalogue() is catalogue
    newer = catalogue.model_copy(update={"version": catalogue.version + 1})
    rt.apply_catalogue(newer)
    assert spec.deps.catalogue() is newer  # handlers see a catalogue change at once


async def test_a_need_gets_its_assignee_and_case_routed_is_queued(catalogue: Catalogue) -> None:
    ctx, outbox = context(catalogue)
    submitted = need()
    ctx.scratch(handlers.BATCH_KEY, RoutingBatch).new_cases[submitted.case_id] = new_case(submitted)
    incoming = envelope(submitted)
    await HANDLERS[NeedSubmitted](ctx, incoming, submitted)
    [(topic, event)] = outbox.events
    routed = CaseRouted.model_validate(event.data)
    assert (topic, event.type, event.subject) == (ROUTING_EVENTS, CaseRouted.TYPE, "c-1")
    assert routed.assignee == Assignee(kind="department", code="urban_mgmt")
    assert routed.co_handlers == [Assignee(kind="department", code="power")]
    assert (routed.attempt, routed.decided_by, routed.routed_at, routed.submitted_at) == (1, "rules", T0, T0)
    assert event.traceid == (incoming.traceid or incoming.id)  # the trace carries on from the need
    # The decision waits in the batch for flush's one statement.
    [assignment] = ctx.scratch(handlers.BATCH_KEY, RoutingBatch).assignments
    assert (assignment.case_id, assignment.assignee) == ("c-1", routed.assignee)


async def test_a_need_routed_already_under_another_event_id_changes_nothing(catalogue: Catalogue) -> None:
    ctx, outbox = context(catalogue)
    submitted = need()
    await HANDLERS[NeedSubmitted](ctx, envelope(submitted), submitted)  # not among the batch's new cases
    assert outbox.messages == []
    assert ctx.scratch(handlers.BATCH_KEY, RoutingBatch).assignments == []


async def test_a_need_for_a_street_outside_the_catalogue_is_poison(catalogue: Catalogue) -> None:
    ctx, outbox = context(catalogue)
    submitted = need(street="atlantis")
    with pytest.raises(PoisonMessage) as err:
        await HANDLERS[NeedSubmitted](ctx, envelope(submitted), submitted)
    assert err.value.reason == "unknown-street"
    assert outbox.messages == []


async def test_a_batch_without_needs_or_decisions_touches_no_table(catalogue: Catalogue) -> None:
    ctx, _ = context(catalogue)  # its connection fails loudly on any use
    await handlers.prepare(ctx, [])
    await handlers.flush(ctx)
    assert ctx.scratch(handlers.BATCH_KEY, RoutingBatch) == RoutingBatch()


@pytest.mark.parametrize(
    ("status", "round_", "feedback_round", "reopen", "outcome"),
    [
        ("resolved", 1, 1, False, "close"),
        ("resolved", 1, 1, True, "reopen"),
        ("resolved", 2, 1, True, "stale"),  # an answer for an earlier round
        ("closed", 1, 1, False, "stale"),  # a repeated answer
    ],
)
def test_the_callback_closes_reopens_or_is_stale(
    status: str, round_: int, feedback_round: int, reopen: bool, outcome: str
) -> None:
    got = workflow.feedback_outcome(
        case_id="c-1", status=status, round_=round_, assignee=WATER, feedback_round=feedback_round, reopen=reopen
    )
    assert got == outcome


@pytest.mark.parametrize(
    ("status", "feedback_round", "assignee"),
    [("signed", 1, WATER), ("resolved", 2, WATER), ("resolved", 1, None)],
)
def test_a_callback_that_can_never_apply_is_poison(status: str, feedback_round: int, assignee: Assignee | None) -> None:
    with pytest.raises(PoisonMessage) as err:
        workflow.feedback_outcome(
            case_id="c-1", status=status, round_=1, assignee=assignee, feedback_round=feedback_round, reopen=True
        )
    assert err.value.reason == "wrong-state"


def test_refused_steps_are_domain_errors_with_their_state() -> None:
    with pytest.raises(Forbidden) as forbidden:
        workflow.check_step(
            "sign", principal=Principal(role="department", scope="power"), assignee=WATER, status="routed"
        )
    assert api_error_of(forbidden.value).body() == {
        "error": "not_assignee",
        "message": "only the current assignee's key may do this",
        "state": "routed",
    }
    with pytest.raises(Conflict) as conflict:
        workflow.check_step(
            "resolve", principal=Principal(role="department", scope="water"), assignee=WATER, status="routed"
        )
    assert (api_error_of(conflict.value).status, conflict.value.code) == (409, "wrong_state")


async def test_decline_for_other_without_a_text_is_refused_before_any_transaction(catalogue: Catalogue) -> None:
    work, uow = work_on(catalogue, MemoryCaseStore())
    with pytest.raises(InvalidInput) as err:
        await service_layer.decline(
            work,
            principal=Principal(role="department", scope="water"),
            case_id="c-1",
            reason_code="other",
            reason_text=None,
            max_declines=2,
        )
    assert err.value.fields == [{"field": "reason_text", "message": "required when reason_code is 'other'"}]
    assert (uow.commits, uow.rollbacks, uow.published) == (0, 0, [])


def test_an_invalid_catalogue_lists_every_problem_as_one_422() -> None:
    err = api_error_of(InvalidCatalogue([("teams[0].capacity", "must be ≥ 0"), ("(root)", "unknown key")]))
    assert (err.status, err.code) == (422, "invalid_catalogue")
    assert [f["field"] for f in err.fields] == ["teams[0].capacity", "(root)"]
    assert base_version(None) is None
    assert base_version(3) == 3
    with pytest.raises(InvalidCatalogue) as bad:
        base_version(True)
    assert bad.value.fields[0]["field"] == "version"


async def test_a_batch_records_routes_and_writes_each_need_once(catalogue: Catalogue) -> None:
    store = MemoryCaseStore()
    ctx, outbox = context(catalogue, store)
    submitted = need()
    incoming = envelope(submitted)
    spec = consumers_of(catalogue, store)
    # The same need twice (a redelivery under another event id): recorded and routed once.
    await spec.run_unit(ctx, [(HANDLERS[NeedSubmitted], incoming, submitted)] * 2)
    case = store.cases["c-1"]
    assert (case.status, case.assignee, case.attempt) == ("routed", Assignee(kind="department", code="urban_mgmt"), 1)
    assert [a.assignee for _, _, a in store.decisions] == [case.assignee]
    assert outbox.types() == [CaseRouted.TYPE]


def consumers_of(catalogue: Catalogue, store: MemoryCaseStore) -> Any:
    settings = RoutingSettings(database_url="postgresql://u@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1")
    [spec] = consumers(ServiceRuntime(settings, extras=NoExtras(), migrations=None, catalogue=catalogue))
    return spec


async def test_a_satisfied_callback_closes_the_case(catalogue: Catalogue) -> None:
    store = MemoryCaseStore(cases={"c-1": resolved_case(WATER)})
    ctx, outbox = context(catalogue, store)
    await HANDLERS[FeedbackReceived](ctx, envelope(need()), feedback(reopen=False))
    case = store.cases["c-1"]
    assert (case.status, case.closed_at, case.round) == ("closed", T0, 1)
    assert [(s.action, s.actor, s.note) for s in store.steps] == [("feedback", "resident", "solved=yes, satisfied")]
    [(_, closed)] = outbox.events
    assert (closed.type, closed.data["solved"], closed.data["assignee"]) == (
        "lastmeter.case.closed",
        True,
        WATER.model_dump(),
    )


async def test_a_dissatisfied_callback_reopens_to_the_team_even_at_capacity(catalogue: Catalogue) -> None:
    team = catalogue.teams[0]
    store = MemoryCaseStore(
        cases={"c-1": resolved_case(Assignee(kind="team", code=team.code))}, loads={team.code: team.capacity}
    )
    ctx, outbox = context(catalogue, store)
    await HANDLERS[FeedbackReceived](ctx, envelope(need()), feedback(reopen=True))
    case = store.cases["c-1"]
    assert (case.status, case.round, case.team_slot) == ("reopened", 2, team.code)
    assert store.loads[team.code] == team.capacity + 1  # the team already owned this work
    [(_, reopened)] = outbox.events
    assert reopened.type == "lastmeter.case.reopened"
    assert (reopened.data["round"], reopened.data["escalated"]) == (2, True)
    assert reopened.data["reason"] == "resident's callback (回访) round 1: solved=no, dissatisfied: 还是不亮"


async def test_a_repeated_callback_changes_nothing(catalogue: Catalogue) -> None:
    closed = replace(resolved_case(WATER), status="closed")
    store = MemoryCaseStore(cases={"c-1": closed})
    ctx, outbox = context(catalogue, store)
    await HANDLERS[FeedbackReceived](ctx, envelope(need()), feedback(reopen=True))
    assert store.cases["c-1"] == closed
    assert (store.steps, outbox.messages) == ([], [])


async def test_a_callback_for_an_unknown_case_is_poison(catalogue: Catalogue) -> None:
    ctx, _ = context(catalogue, MemoryCaseStore())
    with pytest.raises(PoisonMessage) as err:
        await HANDLERS[FeedbackReceived](ctx, envelope(need()), feedback(reopen=False))
    assert err.value.reason == "unknown-case"


def work_on(catalogue: Catalogue, store: MemoryCaseStore) -> tuple[service_layer.Work, InMemoryUnitOfWork[Any]]:
    uow: InMemoryUnitOfWork[Any] = InMemoryUnitOfWork(store)
    return service_layer.Work(uow=uow, clock=ManualClock(T0), catalogue=catalogue), uow


async def test_sign_commits_the_step_and_its_event(catalogue: Catalogue) -> None:
    routed = replace(new_case(need()), status="routed", assignee=WATER, attempt=1)
    work, uow = work_on(catalogue, MemoryCaseStore(cases={"c-1": routed}))
    await service_layer.sign(work, principal=Principal(role="department", scope="water", name="水务"), case_id="c-1")
    assert (uow.commits, uow.rollbacks) == (1, 0)
    assert (uow.store.cases["c-1"].status, uow.store.cases["c-1"].signed_at) == ("signed", T0)
    assert [(s.action, s.actor) for s in uow.store.steps] == [("sign", "水务")]
    assert [event.type for _, event in uow.published] == ["lastmeter.case.signed"]


async def test_a_refused_step_rolls_back_and_publishes_nothing(catalogue: Catalogue) -> None:
    routed = replace(new_case(need()), status="routed", assignee=WATER, attempt=1)
    store = MemoryCaseStore(cases={"c-1": routed})
    work, uow = work_on(catalogue, store)
    with pytest.raises(Conflict) as err:
        await service_layer.resolve(
            work, principal=Principal(role="department", scope="water"), case_id="c-1", note="done", public_note=None
        )
    assert (err.value.code, err.value.extra) == ("wrong_state", {"state": "routed"})
    assert (uow.commits, uow.rollbacks, uow.published) == (0, 1, [])
    assert uow.store.cases["c-1"] == routed


async def test_an_unknown_or_unrouted_case_is_not_found(catalogue: Catalogue) -> None:
    work, _ = work_on(catalogue, MemoryCaseStore(cases={"c-1": new_case(need())}))
    for case_id in ("c-1", "c-404"):
        with pytest.raises(NotFound):
            await service_layer.sign(work, principal=Principal(role="department", scope="water"), case_id=case_id)


async def test_the_last_allowed_decline_sends_the_case_to_arbitration(catalogue: Catalogue) -> None:
    routed = replace(new_case(need()), status="routed", assignee=WATER, attempt=2, decline_count=1)
    work, uow = work_on(catalogue, MemoryCaseStore(cases={"c-1": routed}))
    await service_layer.decline(
        work,
        principal=Principal(role="department", scope="water"),
        case_id="c-1",
        reason_code="other",
        reason_text="不归我们管",
        max_declines=2,
    )
    case = uow.store.cases["c-1"]
    assert (case.status, case.assignee, case.decline_count) == (
        "arbitration",
        Assignee(kind="street_office", code="wanxing"),
        2,
    )
    assert [event.type for _, event in uow.published] == [
        "lastmeter.case.declined",
        "lastmeter.case.arbitration_requested",
    ]
