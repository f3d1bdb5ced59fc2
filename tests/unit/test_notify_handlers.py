"""notify's fan-out handlers from HANDLERS, on the in-memory store and outbox: no Kafka, no PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.notify.handlers import HANDLERS, NotifyDeps, flush, prepare
from services.notify.projection import CaseState, apply
from services.notify.store.fanout import FanoutStore
from shared.events import Assignee, CloudEvent, EventData, make_event, parse_event
from shared.events.intake import NeedSubmitted
from shared.events.routing import CaseRouted, CaseSigned, MemberAssigned
from shared.events.status import STATUS_OF
from shared.handlers import handler_spec
from shared.testing import FakeOutbox, handler_context, mismatched_handlers
from tests.unit.fakes.notify_store import MemoryFanoutStore

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
WATER = Assignee(kind="department", code="water")


def _deps(store: MemoryFanoutStore) -> NotifyDeps:
    typed: FanoutStore = store  # the fake satisfies the protocol the real store implements
    return NotifyDeps(store=typed, db_schema="notify", stream_channel="notify_stream", delivery_channel="notify_dlv")


def _need(case_id: str = "c1") -> NeedSubmitted:
    return NeedSubmitted(
        case_id=case_id,
        category="water_outage",
        description="no water since this morning",
        community="jinrongjie",
        street="wanxing",
        submitted_at=T0,
    )


def _routed(case_id: str = "c1") -> CaseRouted:
    return CaseRouted(
        case_id=case_id,
        category="water_outage",
        description="no water since this morning",
        community="jinrongjie",
        street="wanxing",
        assignee=WATER,
        submitted_at=T0,
        routed_at=T0 + timedelta(minutes=1),
    )


def _signed(case_id: str = "c1") -> CaseSigned:
    return CaseSigned(case_id=case_id, assignee=WATER, signed_at=T0 + timedelta(minutes=2))


def _subscription(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "sub_1",
        "owner_role": "department",
        "owner_scope": "water",
        "owner_case": None,
        "channel": "webhook",
        "target": "https://hooks.water.example/lastmeter",
        "event_types": [],
        "scope_kind": "department",
        "scope_code": "water",
    }
    return row | overrides


def _envelope(event: EventData, case_id: str = "c1") -> CloudEvent:
    return make_event(event, source="/test", subject=case_id, time=T0)


async def _consume(store: MemoryFanoutStore, outbox: FakeOutbox, *events: EventData | CloudEvent) -> None:
    """One consumer unit, as the consumer loop runs it: prepare → each handler from HANDLERS → flush."""
    spec = handler_spec("fanout", ["t"], HANDLERS, deps=_deps(store), prepare=prepare, flush=flush)
    ctx = handler_context(spec.deps, outbox=outbox)
    items: list[tuple[Any, CloudEvent, EventData]] = []
    for item in events:
        envelope = item if isinstance(item, CloudEvent) else _envelope(item)
        payload = item if not isinstance(item, CloudEvent) else _payload(item)
        items.append((HANDLERS[type(payload)], envelope, payload))
    await spec.run_unit(ctx, items)


def _payload(envelope: CloudEvent) -> EventData:
    _, payload = parse_event(envelope.to_bytes())
    return payload


def test_every_handler_takes_the_event_it_is_listed_for() -> None:
    assert mismatched_handlers(HANDLERS) == []


def test_every_case_event_type_has_a_handler() -> None:
    assert NeedSubmitted in HANDLERS
    assert CaseRouted in HANDLERS
    assert CaseSigned in HANDLERS


async def test_an_event_is_projected_published_streamed_and_delivered() -> None:
    store, outbox = MemoryFanoutStore(subscriptions=[_subscription()]), FakeOutbox()
    await _consume(store, outbox, _need(), _routed())
    assert store.cases["c1"].status == "routed"
    assert store.cases["c1"].assignee == WATER
    topics = [topic for topic, _ in outbox.events]
    assert "street.wanxing" in topics
    assert "dept.water" in topics
    assert [e.type for e in store.stream] == ["lastmeter.need.submitted", "lastmeter.case.routed"]
    # The department's subscription hears about its case once it is routed there, not before.
    assert [(d.subscription_id, d.event_type) for d in store.deliveries] == [("sub_1", "lastmeter.case.routed")]
    assert store.deliveries[0].destination == "https://hooks.water.example:443"
    assert store.woken == ["notify_stream", "notify_dlv"]


async def test_a_redelivered_event_queues_no_second_delivery() -> None:
    store, outbox = MemoryFanoutStore(subscriptions=[_subscription()]), FakeOutbox()
    routed = _envelope(_routed())
    await _consume(store, outbox, _need(), routed)
    await _consume(store, outbox, routed)  # the same envelope again: (subscription, event) is queued once
    assert [d.event_id for d in store.deliveries] == [routed.id]


async def test_an_event_before_its_street_is_known_waits_then_goes_out_in_order() -> None:
    store, outbox = MemoryFanoutStore(), FakeOutbox()
    await _consume(store, outbox, _signed())  # routing's event overtook intake's
    assert store.parked["c1"]
    assert store.stream == []
    assert outbox.events == []
    await _consume(store, outbox, _need())
    assert "c1" not in store.parked
    assert [e.type for e in store.stream] == ["lastmeter.need.submitted", "lastmeter.case.signed"]
    assert store.cases["c1"].status == "signed"


async def test_a_subscription_outside_the_case_hears_nothing() -> None:
    elsewhere = _subscription(owner_scope="power", scope_code="power")
    store, outbox = MemoryFanoutStore(subscriptions=[elsewhere]), FakeOutbox()
    await _consume(store, outbox, _need(), _routed())
    assert store.deliveries == []


def test_the_projection_takes_its_status_from_the_shared_mapping() -> None:
    """MemberAssigned moves the case to in_progress, as intake's timeline has it (it used to leave it alone)."""
    signed = apply(CaseState(case_id="c1"), _signed(), event_time=T0)
    assert signed.status == "signed"
    at = T0 + timedelta(minutes=3)
    assigned = apply(signed, MemberAssigned(case_id="c1", team="t1", member="v1", at=at), event_time=at)
    assert (assigned.status, assigned.status_at, assigned.member) == ("in_progress", at, "v1")
    for model, status in STATUS_OF.items():
        if status is not None:
            assert model in HANDLERS, f"{model.__name__} changes a status but notify does not project it"
