"""The in-memory seams behave like the real ones: commit keeps, raise rolls back, handlers run without I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from shared.events import CloudEvent, make_event
from shared.events.routing import CaseDeclined, CaseSigned
from shared.handlers import HandlerContext, HandlerTable, handler_spec
from shared.runtime import Late
from shared.testing import FakeOutbox, FakeProducer, InMemoryUnitOfWork, handler_context, mismatched_handlers

AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Cases:
    signed: dict[str, str] = field(default_factory=dict)


def _signed(case_id: str) -> CloudEvent:
    data = CaseSigned(case_id=case_id, assignee={"kind": "department", "code": "water"}, signed_at=AT)
    return make_event(data, source="/test", subject=case_id, time=AT)


async def test_a_committed_block_keeps_its_changes_and_events() -> None:
    uow = InMemoryUnitOfWork(Cases())
    async with uow.begin() as tx:
        tx.store.signed["c1"] = "water"
        await tx.publish("routing.events", _signed("c1"))
    assert uow.store.signed == {"c1": "water"}
    assert [(topic, event.type) for topic, event in uow.published] == [("routing.events", "lastmeter.case.signed")]
    assert (uow.commits, uow.rollbacks) == (1, 0)


async def test_a_block_that_raises_leaves_no_trace() -> None:
    uow = InMemoryUnitOfWork(Cases())

    async def refused_use_case() -> None:
        async with uow.begin() as tx:
            tx.store.signed["c1"] = "water"
            await tx.publish("routing.events", _signed("c1"))
            raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await refused_use_case()
    assert uow.store.signed == {}
    assert uow.published == []
    assert (uow.commits, uow.rollbacks) == (0, 1)


async def test_the_in_memory_connection_refuses_sql() -> None:
    uow = InMemoryUnitOfWork(Cases())
    async with uow.begin() as tx:
        with pytest.raises(AssertionError, match="in-memory store"):
            await tx.conn.execute("SELECT 1")


@dataclass(frozen=True)
class Deps:
    office: str


async def on_signed(ctx: HandlerContext[Deps], envelope: CloudEvent, event: CaseSigned) -> None:
    await ctx.publish("sla.events", make_event(event, source=ctx.deps.office, subject=event.case_id, time=AT))


HANDLERS: HandlerTable[Deps] = {CaseSigned: on_signed}


async def test_a_handler_from_the_table_runs_on_the_fake_context() -> None:
    spec = handler_spec("test", ["routing.events"], HANDLERS, deps=Deps(office="/street"))
    outbox = FakeOutbox()
    ctx = handler_context(spec.deps, outbox=outbox)
    envelope = _signed("c1")
    await spec.run_unit(ctx, [(HANDLERS[CaseSigned], envelope, CaseSigned.model_validate(envelope.data))])
    assert [(topic, event.source) for topic, event in outbox.events] == [("sla.events", "/street")]


async def test_the_fake_producer_records_and_fails_on_demand() -> None:
    producer = FakeProducer()
    await producer.send_and_wait("t", b"v", key=b"k")
    producer.fail_next = ConnectionError("down")
    with pytest.raises(ConnectionError):
        await producer.send_and_wait("t", b"w")
    assert producer.sent == [("t", b"v", b"k", [])]


def test_a_late_slot_is_read_only_once_set() -> None:
    slot: Late[int] = Late("hub")
    with pytest.raises(RuntimeError, match="hub is not ready"):
        slot.get()
    slot.set(3)
    assert slot.get() == 3
    with pytest.raises(RuntimeError, match="already set"):
        slot.set(4)


def test_a_table_entry_whose_handler_takes_another_event_is_reported() -> None:
    assert mismatched_handlers(HANDLERS) == []
    wrong: HandlerTable[Deps] = {CaseDeclined: on_signed}
    assert mismatched_handlers(wrong) == ["CaseDeclined: on_signed takes <class 'shared.events.routing.CaseSigned'>"]
