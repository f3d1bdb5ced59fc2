"""Routing's HANDLERS and use cases in memory (shared.testing): no broker, no database."""

from __future__ import annotations

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
from shared.errors import Conflict, Forbidden, InvalidInput
from shared.events import Assignee, PoisonMessage, make_event
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.events.routing import CaseRouted
from shared.http import api_error_of
from shared.runtime import NoExtras
from shared.service import ServiceRuntime
from shared.testing import FakeOutbox, InMemoryUnitOfWork, handler_context, mismatched_handlers
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS

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


def context(catalogue: Catalogue) -> tuple[Any, FakeOutbox]:
    outbox = FakeOutbox()
    return handler_context(RoutingDeps(catalogue=lambda: catalogue), clock=ManualClock(T0), outbox=outbox), outbox


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
    uow: InMemoryUnitOfWork[None] = InMemoryUnitOfWork(None)
    work = service_layer.Work(uow=uow, clock=ManualClock(T0), catalogue=catalogue)
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
