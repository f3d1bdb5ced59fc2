"""Turning clock changes into stored deadlines, timers and events; the pause / resume commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from services.sla import clocks, store
from services.sla.clocks import Change
from services.sla.pending import PendingWrites, Timer, next_timer
from services.sla.policy import Policies, PolicyCache
from services.sla.rates import Counter, Facts, increments
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.errors import Conflict, NotFound
from shared.events import Assignee, CloudEvent, EventData, make_event
from shared.events.sla import DeadlineArmed, DeadlineStopped
from shared.scope import CaseOwners
from shared.topics import SLA_EVENTS
from shared.uow import PgUnitOfWork

SOURCE = "/lastmeter/sla"
_RESCHEDULE = frozenset({"armed", "recomputed", "resumed", "reassigned"})
# The unit of work sla's use cases open (its store is still module functions on `tx.conn`).
SlaUnitOfWork = PgUnitOfWork[store.Connection]


def timer_channel(schema: str) -> str:
    """The NOTIFY channel that wakes timer loops when a sooner timer is armed."""
    return f"{schema}_timers"


@dataclass(frozen=True)
class SlaDeps:
    """What sla's handlers and use cases need from the runtime (built once by `runtime.sla_deps`)."""

    catalogue: Callable[[], Catalogue]  # the live version: read on each call
    policy_cache: PolicyCache
    clock: Clock
    max_sleep: float  # a timer due sooner than this wakes the timer loops
    timer_channel: str

    def policies(self) -> Policies:
        """The policies of the live catalogue."""
        return self.policy_cache.of(self.catalogue())


def owners_of(case: Mapping[str, Any]) -> CaseOwners:
    """Who a stored case belongs to, for the scope check: its street, current assignee and co-handlers."""
    kind, code = case["assignee_kind"], case["assignee_code"]
    raw = case["co_handlers"]
    co = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return CaseOwners(
        case_id=case["case_id"],
        street=case["street"],
        assignee=Assignee(kind=kind, code=code) if kind and code else None,
        co_handlers=tuple(Assignee.model_validate(c) for c in co or ()),
    )


def _payload(change: Change) -> EventData:
    d = change.deadline
    if change.what == "stopped":
        assert d.stopped_at is not None
        return DeadlineStopped(
            case_id=d.case_id,
            kind=d.kind,
            met=bool(change.met),
            due_at=d.due_at,
            stopped_at=d.stopped_at,
            reason=d.stop_reason,
            assignee=d.assignee,
            attempt=d.attempt,
            round=d.round,
        )
    return DeadlineArmed(
        case_id=d.case_id,
        kind=d.kind,
        attempt=d.attempt,
        assignee=d.assignee,
        sla_class=d.sla_class,
        calendar=d.calendar,
        started_at=d.started_at,
        due_at=d.due_at,
        round=d.round,
        reason=change.what,
    )


async def apply_changes(
    conn: store.Connection,
    deps: SlaDeps,
    changes: Sequence[Change],
    *,
    street: str | None,
    trace_id: str | None = None,
    pending: PendingWrites | None = None,
) -> list[CloudEvent]:
    """Store each change, give running deadlines their next timer, and return the events to publish.

    With `pending` (a consumer batch), new deadlines are left there to be written with the batch's others.
    """
    if not changes:
        return []
    policies = deps.policies()
    now = deps.clock.now()
    timers: list[Timer] = []
    events = []
    for change in changes:
        d = change.deadline
        schedule = change.what in _RESCHEDULE and d.status == "armed"
        events.append(make_event(_payload(change), source=SOURCE, subject=d.case_id, time=now, trace_id=trace_id))
        if d.id is None and pending is not None:
            pending.add_deadline(d, street=street, schedule=schedule)
            continue
        if d.id is not None:
            await store.drop_timers(conn, deadline_id=d.id)
        deadline_id, generation = await store.save_deadline(conn, d, street=street)
        if schedule:
            fired: set[str] = set()
            if d.id is not None:
                fired = (await store.fired_steps(conn, deadline_ids=[deadline_id])).get(deadline_id, set())
            timer = next_timer(d, deadline_id=deadline_id, generation=generation, fired=fired, policies=policies)
            timers += [timer] if timer else []
    await store.insert_timers(conn, timers)
    if any((at - now).total_seconds() < deps.max_sleep for *_, at in timers):
        await store.notify_timers(conn, deps.timer_channel)
    return events


async def write_pending(conn: store.Connection, deps: SlaDeps, pending: PendingWrites) -> None:
    """Write what a consumer batch deferred (new deadlines, their timers, rate increments)."""
    await pending.write(
        conn, policies=deps.policies(), now=deps.clock.now(), channel=deps.timer_channel, max_sleep=deps.max_sleep
    )


def facts_of(case: Mapping[str, Any] | None, assignee: Assignee | None) -> Facts:
    """Where a counted event belongs: the case's street, community, category and the given assignee."""
    if case is None:
        return Facts(None, None, None, assignee.kind if assignee else None, assignee.code if assignee else None)
    kind = assignee.kind if assignee else case["assignee_kind"]
    code = assignee.code if assignee else case["assignee_code"]
    return Facts(case["street"], case["community"], case["category"], kind, code)


def count(pending: PendingWrites, deps: SlaDeps, facts: Facts, *, at: datetime, counts: Mapping[Counter, int]) -> None:
    """Add one event's counts to the rate counters (written with the batch)."""
    pending.increments += increments(facts, at=at, timezone=deps.catalogue().timezone, counts=counts)


async def case_owners(uow: SlaUnitOfWork, *, case_id: str) -> CaseOwners | None:
    """Who a case belongs to (None when sla has never seen it), for the caller's scope check."""
    async with uow.begin() as tx:
        case = await store.get_case(tx.conn, case_id=case_id)
    return owners_of(case) if case else None


async def case_deadlines(uow: SlaUnitOfWork, *, case_id: str) -> list[store.Record]:
    """A case's deadlines with their fired steps and next timer, as the API shows them."""
    async with uow.begin() as tx:
        return await store.deadlines_view(tx.conn, case_id=case_id)


async def rate_rows(
    uow: SlaUnitOfWork,
    *,
    dimension: str,
    period: str,
    first: date,
    last: date,
    street: str | None,
    value: str | None,
) -> list[store.Record]:
    """Counters per (value, bucket) in [first, last], within the caller's street or value."""
    async with uow.begin() as tx:
        return await store.rate_rows(
            tx.conn, dimension=dimension, period=period, first=first, last=last, street=street, value=value
        )


async def pause(uow: SlaUnitOfWork, deps: SlaDeps, *, case_id: str) -> None:
    """Pause a case's clocks because it waits on the resident (409 unless routing said it does)."""
    async with uow.begin() as tx:
        conn = tx.conn
        case = await store.lock_case(conn, case_id=case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        if case["awaiting_since"] is None:
            raise Conflict("the case is not waiting on the resident, so its clocks run", code="not_awaiting_resident")
        if case["paused_at"] is not None:
            return  # paused already: pausing again changes nothing
        now = deps.clock.now()
        await store.update_case(conn, case_id=case_id, paused_at=now)
        changes = clocks.on_paused(await store.load_deadlines(conn, case_id=case_id), at=now)
        for event in await apply_changes(conn, deps, changes, street=case["street"]):
            await tx.publish(SLA_EVENTS, event)


async def resume(uow: SlaUnitOfWork, deps: SlaDeps, *, case_id: str) -> None:
    """Run a paused case's clocks again, even while it still waits on the resident (a street office override)."""
    async with uow.begin() as tx:
        conn = tx.conn
        case = await store.lock_case(conn, case_id=case_id)
        if case is None:
            raise NotFound(f"no case {case_id!r}")
        if case["paused_at"] is None:
            raise Conflict("the case's clocks are not paused", code="not_paused")
        now = deps.clock.now()
        await store.update_case(conn, case_id=case_id, paused_at=None)
        deadlines = await store.load_deadlines(conn, case_id=case_id)
        changes = clocks.on_resumed(deadlines, at=now, policies=deps.policies())
        for event in await apply_changes(conn, deps, changes, street=case["street"]):
            await tx.publish(SLA_EVENTS, event)
