"""Turning clock changes into stored deadlines, timers and events; the pause / resume commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.sla import clocks, store
from services.sla.clocks import Change
from services.sla.firing import notify_timers
from services.sla.pending import PendingWrites, Timer, next_timer
from services.sla.policy import Policies, cached
from services.sla.rates import Counter, Facts, increments
from shared.events import Assignee, CloudEvent, EventData, make_event
from shared.events.sla import DeadlineArmed, DeadlineStopped
from shared.scope import CaseOwners
from shared.service import ServiceRuntime

SOURCE = "/lastmeter/sla"
_RESCHEDULE = frozenset({"armed", "recomputed", "resumed", "reassigned"})


class CaseNotFound(Exception):
    """sla has never seen this case."""


class ClockConflict(Exception):
    """The command does not fit the case's state (HTTP 409); `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


def policies_of(rt: ServiceRuntime) -> Policies:
    """The policies of the live catalogue."""
    return cached(rt.state, rt.catalogue, default_class=getattr(rt.settings, "default_sla_class", "general"))


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
        reason=change.what,  # type: ignore[arg-type]
    )


async def apply_changes(
    conn: asyncpg.Connection,
    rt: ServiceRuntime,
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
    policies = policies_of(rt)
    now = rt.clock.now()
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
    if any((at - now).total_seconds() < max_sleep_of(rt) for *_, at in timers):
        await notify_timers(conn, rt.settings.db_schema)
    return events


def max_sleep_of(rt: ServiceRuntime) -> float:
    """How long a timer loop may sleep; a timer due sooner than this wakes it."""
    return float(getattr(rt.settings, "timer_max_sleep", 30.0))


async def write_pending(conn: asyncpg.Connection, rt: ServiceRuntime, pending: PendingWrites) -> None:
    """Write what a consumer batch deferred (new deadlines, their timers, rate increments)."""
    await pending.write(
        conn, policies=policies_of(rt), now=rt.clock.now(), schema=rt.settings.db_schema, max_sleep=max_sleep_of(rt)
    )


def facts_of(case: asyncpg.Record | None, assignee: Assignee | None) -> Facts:
    """Where a counted event belongs: the case's street, community, category and the given assignee."""
    if case is None:
        return Facts(None, None, None, assignee.kind if assignee else None, assignee.code if assignee else None)
    kind = assignee.kind if assignee else case["assignee_kind"]
    code = assignee.code if assignee else case["assignee_code"]
    return Facts(case["street"], case["community"], case["category"], kind, code)


def count(
    pending: PendingWrites, rt: ServiceRuntime, facts: Facts, *, at: datetime, counts: Mapping[Counter, int]
) -> None:
    """Add one event's counts to the rate counters (written with the batch)."""
    pending.increments += increments(facts, at=at, timezone=rt.catalogue.timezone, counts=counts)


async def pause(conn: asyncpg.Connection, rt: ServiceRuntime, *, case_id: str) -> list[CloudEvent]:
    """Pause a case's clocks because it waits on the resident (409 unless routing said it does)."""
    case = await store.lock_case(conn, case_id=case_id)
    if case is None:
        raise CaseNotFound(case_id)
    if case["awaiting_since"] is None:
        raise ClockConflict("not_awaiting_resident", "the case is not waiting on the resident, so its clocks run")
    if case["paused_at"] is not None:
        return []  # paused already: pausing again changes nothing
    now = rt.clock.now()
    await store.update_case(conn, case_id=case_id, paused_at=now)
    changes = clocks.on_paused(await store.load_deadlines(conn, case_id=case_id), at=now)
    return await apply_changes(conn, rt, changes, street=case["street"])


async def resume(conn: asyncpg.Connection, rt: ServiceRuntime, *, case_id: str) -> list[CloudEvent]:
    """Run a paused case's clocks again, even while it still waits on the resident (a street office override)."""
    case = await store.lock_case(conn, case_id=case_id)
    if case is None:
        raise CaseNotFound(case_id)
    if case["paused_at"] is None:
        raise ClockConflict("not_paused", "the case's clocks are not paused")
    now = rt.clock.now()
    await store.update_case(conn, case_id=case_id, paused_at=None)
    deadlines = await store.load_deadlines(conn, case_id=case_id)
    changes = clocks.on_resumed(deadlines, at=now, policies=policies_of(rt))
    return await apply_changes(conn, rt, changes, street=case["street"])
