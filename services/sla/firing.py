"""The timer loop: claims due timers, fires them once (event and record in one transaction), sleeps until the next.

Several sla processes run it against the same schema: `FOR UPDATE SKIP LOCKED` hands each due
timer to exactly one of them, and the `firings` primary key refuses a second firing anyway.
It fires only what is due by the input watermark (`watermarks`): after an outage, a deadline
met in time whose `case.signed` is still in the backlog must not breach.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime

import structlog

from services.sla import store
from services.sla.clocks import Deadline
from services.sla.policy import Policies
from services.sla.runtime import SlaRuntime, uow_of
from services.sla.service_layer import timer_channel
from services.sla.steps import Step, plan_firing, steps_for
from services.sla.watermarks import horizon
from shared.events import CloudEvent, EventData, make_event
from shared.events.sla import CaseEscalated, DeadlineBreached, DeadlineWarning
from shared.pg_listen import listen_forever
from shared.retry import Backoff, is_transient
from shared.topics import SLA_EVENTS

log = structlog.get_logger(__name__)
SOURCE = "/lastmeter/sla"
# While due timers wait for the input watermark, look again this often.
HELD_POLL = 0.5


class TimerLoop:
    """Fires due timers of one sla schema until cancelled; `wake()` makes it look again at once."""

    def __init__(self, rt: SlaRuntime, *, topics: Sequence[str], batch: int, max_sleep: float) -> None:
        self.rt = rt
        self.topics = [rt.settings.topic(t) for t in topics]  # the inputs whose watermark holds firing
        self.batch = batch
        self.max_sleep = max_sleep
        self.held = False  # the last look found timers due by the clock but not by the input watermark
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.fired = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Re-check the timers now (a NOTIFY, or a test that moved its clock)."""
        self._wake.set()

    async def run(self) -> None:
        """Fire, then sleep until the next due instant, a wake-up or `max_sleep`, forever."""
        channel = timer_channel(self.rt.settings.db_schema)
        listener = asyncio.create_task(listen_forever(self.rt.settings.database_url, channel, self.wake))
        backoff = Backoff(maximum=5.0)
        try:
            while True:
                self._wake.clear()
                try:
                    claimed = await self.fire_due()
                    backoff.reset()
                except Exception as exc:
                    if is_transient(exc):
                        log.warning("timer firing failed transiently; retrying", error=str(exc))
                    else:
                        log.exception("timer firing failed; retrying")
                    await backoff.sleep()
                    continue
                if claimed >= self.batch:
                    await asyncio.sleep(0)  # more are due: go again, but let other tasks breathe
                    continue
                await self._sleep()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _sleep(self) -> None:
        """Sleep until the earliest timer is due (bounded by max_sleep), or until woken."""
        try:
            nxt = await store.next_fire_at(self.rt.pool)
        except Exception as exc:
            log.warning("could not read the next timer", error=str(exc))
            nxt = None
        delay = self.max_sleep
        if nxt is not None:
            delay = min(delay, max(0.0, (nxt - self.rt.clock.now()).total_seconds()))
            if delay <= 0 and self.held:
                # Due, but sla's input is behind: our watermark writer wakes us, another process's does not.
                delay = min(self.max_sleep, HELD_POLL)
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def fire_due(self) -> int:
        """Claim and fire one batch of due timers in one transaction; returns how many were claimed."""
        now = self.rt.clock.now()
        policies = self.rt.extras.policies.of(self.rt.catalogue)
        async with uow_of(self.rt).begin() as tx:
            conn = tx.conn
            until = horizon(now, await store.low_watermark(conn, self.topics))
            self.held = until is None or until < now
            if until is None:
                return 0  # sla has not read some input yet: nothing is known to be late
            rows = await store.claim_due(conn, now=until, limit=self.batch)
            if not rows:
                return 0
            live = [r for r in rows if r["timer_generation"] == r["generation"] and r["state"] == "armed"]
            fired = await store.fired_steps(conn, deadline_ids=[r["id"] for r in live])
            firings: list[tuple[int, str, datetime, datetime, bool]] = []
            timers: list[tuple[int, int, str, datetime]] = []
            planned: dict[tuple[int, str], tuple[Deadline, Step, str | None]] = {}
            for row in live:
                d = store.to_deadline(row)
                cls = policies.sla_class(d.sla_class)
                # Steps due by the watermark fire (stamped now, never back-dated); later ones wait for it.
                plan = plan_firing(steps_for(d, cls, policies.calendar(d.calendar)), fired.get(row["id"], ()), until)
                for step in plan.fire:
                    firings.append((row["id"], step.name, step.at, now, False))
                    planned[(row["id"], step.name)] = (d, step, row["street"])
                firings += [(row["id"], s.name, s.at, now, True) for s in plan.skip]
                if plan.next is not None:
                    timers.append((row["id"], row["generation"], plan.next.name, plan.next.at))
            new = await store.record_firings(conn, firings, fired_by=self.instance)
            events = [
                self._event(d, step, street, now, policies)
                for key, (d, step, street) in planned.items()
                if key in new  # recorded just now: a firing recorded before is never repeated
            ]
            await store.insert_timers(conn, timers)
            if events:
                await self.rt.outbox.add_messages(conn, [self.rt.outbox.message(SLA_EVENTS, e) for e in events])
        self.fired += len(events)
        return len(rows)

    def _event(self, d: Deadline, step: Step, street: str | None, now: datetime, policies: Policies) -> CloudEvent:
        """The event one fired step publishes."""
        assert d.due_at is not None  # only armed (running) deadlines have timers
        payload: EventData
        if step.action == "warning":
            payload = DeadlineWarning(
                case_id=d.case_id,
                kind=d.kind,
                fraction=step.fraction,
                assignee=d.assignee,
                due_at=d.due_at,
                at=now,
                attempt=d.attempt,
                round=d.round,
            )
        elif step.action == "breach":
            payload = DeadlineBreached(
                case_id=d.case_id,
                kind=d.kind,
                assignee=d.assignee,
                due_at=d.due_at,
                breached_at=now,
                attempt=d.attempt,
                round=d.round,
            )
        else:
            assert step.level is not None
            target_kind, target_code = escalation_target(step.level, d, street, policies)
            payload = CaseEscalated(
                case_id=d.case_id,
                kind=d.kind,
                level=step.level,
                assignee=d.assignee,
                target_kind=target_kind,  # type: ignore[arg-type]  # escalation_target returns only the Literal's values
                target_code=target_code,
                at=now,
                due_at=d.due_at,
                after=step.fraction,
                attempt=d.attempt,
                round=d.round,
            )
        return make_event(payload, source=SOURCE, subject=d.case_id, time=now)


def escalation_target(level: str, d: Deadline, street: str | None, policies: Policies) -> tuple[str, str]:
    """Who an escalation step goes to: remind → the assignee, supervise → the street office, district → the district."""
    if level == "remind" and d.assignee is not None:
        return d.assignee.kind, d.assignee.code
    if level in ("remind", "supervise") and street:
        return "street_office", street
    return "district", policies.catalogue.district_of(street or "").code
