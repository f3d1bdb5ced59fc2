"""Giving a case to someone inside a transaction: take a team slot, record the decision, queue the event."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.routing.cases import rules, store
from services.routing.cases.store import Case, CaseStore, Connection
from shared.catalogue import Catalogue
from shared.events import Assignee, Location, make_event
from shared.events.envelope import EventData
from shared.events.routing import ArbitrationRequested, CaseRouted
from shared.outbox import Outbox
from shared.topics import ROUTING_EVENTS

SOURCE = "/lastmeter/routing"
# Who made a routing decision (CaseRouted.decided_by).
DecidedBy = Literal["rules", "arbitration", "triage"]


@dataclass(frozen=True)
class Tx:
    """One transaction's tools: the connection, the outbox, the catalogue in force and the time."""

    conn: Connection
    outbox: Outbox
    catalogue: Catalogue
    now: datetime
    trace_id: str | None = None
    # The case SQL this transaction runs (an in-memory twin in unit tests).
    store: CaseStore = field(default=store)

    async def publish(self, case_id: str, event: EventData) -> None:
        """Queue a routing event for the case (published after commit)."""
        envelope = make_event(event, source=SOURCE, subject=case_id, time=self.now, trace_id=self.trace_id)
        await self.outbox.add(self.conn, ROUTING_EVENTS, envelope)


def facts_of(case: Case) -> rules.NeedFacts:
    """What the rules need to know about a stored case."""
    return rules.NeedFacts(
        category=case.category,
        community=case.community,
        street=case.street,
        vulnerable=bool(case.need.get("vulnerable", False)),
        pairing_id=case.need.get("pairing_id"),
        priority=case.priority,
    )


async def choose(tx: Tx, *, case_id: str, facts: rules.NeedFacts, exclude: Collection[Assignee]) -> rules.Decision:
    """The first candidate in rule order that can take the case; a chosen team's slot is taken here."""
    loads = await tx.store.team_loads(tx.conn) if rules.may_use_teams(facts, tx.catalogue) else {}
    lost: list[str] = []
    for candidate in rules.rank(facts, tx.catalogue, loads=loads, exclude=exclude):
        if candidate.needs_capacity:
            team = tx.catalogue.team(candidate.assignee.code)
            capacity = team.capacity if team else 0
            if not await tx.store.take_team_slot(
                tx.conn, case_id=case_id, team=candidate.assignee.code, capacity=capacity
            ):
                # Another routing process filled the team between reading loads and taking the slot.
                lost.append(f"team {candidate.assignee.code} reached its capacity ({capacity}) meanwhile")
                continue
        for note in reversed(lost):
            candidate = candidate.with_note(note)
        return candidate
    raise AssertionError("rank always ends with the street office")  # pragma: no cover


async def assign(
    tx: Tx,
    case: Case,
    decision: rules.Decision,
    *,
    decided_by: DecidedBy = "rules",
    final: bool = False,
    deferred: list[store.Assignment] | None = None,
) -> int:
    """Record the decision, move the case to `routed` and queue `case routed`; returns the attempt.

    With `deferred` (a consumer batch), the decision is left there to be written with the batch's others.
    """
    previous = await tx.store.previous_assignees(tx.conn, case_id=case.case_id) if case.attempt else []
    assignment = store.Assignment(
        case_id=case.case_id,
        assignee=decision.assignee,
        co_handlers=decision.co_handlers,
        reasons=decision.reasons,
        member=decision.member,
        decided_by=decided_by,
        final=final,
    )
    if deferred is not None:
        deferred.append(assignment)
        attempt = case.attempt + 1  # what the batch's write will make it: nothing else moves the case meanwhile
    else:
        attempt = (await tx.store.record_assignments(tx.conn, [assignment], now=tx.now))[case.case_id]
    await tx.publish(case.case_id, routed_event(case, decision, tx, attempt, previous, decided_by, final))
    return attempt


def routed_event(
    case: Case,
    decision: rules.Decision,
    tx: Tx,
    attempt: int,
    previous: Sequence[Assignee],
    decided_by: DecidedBy,
    final: bool,
) -> CaseRouted:
    """What the assignee needs to act: what, where, category, priority, why them, who had it before."""
    need = case.need
    location = need.get("location")
    return CaseRouted(
        case_id=case.case_id,
        category=case.category,
        description=need.get("description", ""),
        community=case.community,
        street=case.street,
        grid=need.get("grid"),
        location=Location.model_validate(location) if location else None,
        address=need.get("address"),
        priority=case.priority,
        vulnerable=bool(need.get("vulnerable", False)),
        pairing_id=need.get("pairing_id"),
        assignee=decision.assignee,
        member=decision.member,
        co_handlers=list(decision.co_handlers),
        reasons=list(decision.reasons),
        previous_assignees=list(previous),
        attempt=attempt,
        decided_by=decided_by,
        final=final,
        sla_class=rules.sla_class_for(case.category, case.priority, tx.catalogue),
        submitted_at=case.submitted_at,
        routed_at=tx.now,
    )


async def request_arbitration(tx: Tx, case: Case, *, reason: str, decline_count: int) -> None:
    """Hand the case to its street office's arbitration queue and queue `arbitration requested`."""
    previous = await tx.store.previous_assignees(tx.conn, case_id=case.case_id)
    await tx.store.release_team_slot(tx.conn, case_id=case.case_id)
    await tx.store.set_arbitration(tx.conn, case_id=case.case_id, street=case.street, now=tx.now)
    event = ArbitrationRequested(
        case_id=case.case_id,
        street=case.street,
        reason=reason,
        previous_assignees=previous,
        decline_count=decline_count,
        category=case.category,
        community=case.community,
        priority=case.priority,
        requested_at=tx.now,
    )
    await tx.publish(case.case_id, event)
