"""What one sla consumer transaction defers to its end: new deadlines with their first timers, and
rate increments, each written in one statement however many events the batch held.

Only brand-new deadlines wait here; changes to stored ones are written at once. A handler that
reads a case's deadlines first writes whatever is pending for that case (`holds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.sla import store
from services.sla.clocks import Deadline
from services.sla.policy import Policies
from services.sla.rates import Increment
from services.sla.steps import next_step

Timer = tuple[int, int, str, datetime]  # (deadline id, generation, step, fire at)


def next_timer(d: Deadline, *, deadline_id: int, generation: int, fired: set[str], policies: Policies) -> Timer | None:
    """The deadline's earliest step not fired yet, as a timer row (None when nothing is left)."""
    nxt = next_step(d, policies.sla_class(d.sla_class), policies.calendar(d.calendar), fired)
    return None if nxt is None else (deadline_id, generation, nxt.name, nxt.at)


@dataclass
class PendingWrites:
    """One consumer transaction's deferred writes; `write` empties it (the batch's flush hook)."""

    deadlines: list[tuple[Deadline, str | None, bool]] = field(default_factory=list)  # (new, street, schedule?)
    increments: list[Increment] = field(default_factory=list)
    cases: set[str] = field(default_factory=set)

    def add_deadline(self, d: Deadline, *, street: str | None, schedule: bool) -> None:
        self.deadlines.append((d, street, schedule))
        self.cases.add(d.case_id)

    def holds(self, case_id: str) -> bool:
        """Whether a deadline of this case is still to be written."""
        return case_id in self.cases

    async def write(
        self, conn: store.Connection, *, policies: Policies, now: datetime, channel: str, max_sleep: float
    ) -> None:
        saved = await store.insert_deadlines(conn, [(d, street) for d, street, _ in self.deadlines])
        timers: list[Timer] = []
        for d, _, schedule in self.deadlines:
            if schedule:
                deadline_id, generation = saved[(d.case_id, d.kind, d.round, d.attempt)]
                timer = next_timer(d, deadline_id=deadline_id, generation=generation, fired=set(), policies=policies)
                timers += [timer] if timer else []
        await store.insert_timers(conn, timers)
        if any((at - now).total_seconds() < max_sleep for *_, at in timers):
            await store.notify_timers(conn, channel)
        await store.add_increments(conn, self.increments)
        self.deadlines.clear()
        self.increments.clear()
        self.cases.clear()
