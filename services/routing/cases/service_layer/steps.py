"""The workflow steps the API offers, each one transaction: check, change state, queue its event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from services.routing.cases import rules, workflow
from services.routing.cases.service_layer import dispatch
from services.routing.cases.service_layer.dispatch import Tx
from services.routing.cases.store import Case
from services.routing.runtime import RoutingUoW
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import Assignee
from shared.events.intake import Priority
from shared.events.routing import (
    CaseAwaitingResident,
    CaseDeclined,
    CaseProgressed,
    CaseResolved,
    CaseResumed,
    CaseSigned,
    DeclineReason,
    MemberAssigned,
    PriorityChanged,
)


@dataclass(frozen=True)
class Work:
    """What every step runs on: the unit of work, the clock and the catalogue in force."""

    uow: RoutingUoW
    clock: Clock
    catalogue: Catalogue


def actor_of(principal: Principal) -> str:
    """How a caller appears in the case history."""
    return principal.name or f"{principal.role}:{principal.scope or '*'}"


@asynccontextmanager
async def _locked(work: Work, case_id: str) -> AsyncIterator[tuple[Tx, Case]]:
    """A transaction holding the case's row lock, so concurrent steps on one case queue up."""
    async with work.uow.begin() as t:
        case = await t.store.get_case(t.conn, case_id=case_id, for_update=True)
        if case is None or case.status == "new":
            raise NotFound(f"no case {case_id}")
        yield Tx(conn=t.conn, outbox=t.outbox, catalogue=work.catalogue, now=work.clock.now(), store=t.store), case


def _check(action: workflow.Action, principal: Principal, case: Case) -> tuple[str, Assignee]:
    """Refuse the step unless allowed; the state it leads to and the acting assignee."""
    after = workflow.check_step(
        action, principal=principal, assignee=case.assignee, status=case.status, final=case.final
    )
    if case.assignee is None:  # check_step refuses a case without an assignee; this narrows the type
        raise workflow.StepForbidden("not_assignee", "the case has no assignee", state=case.status)
    return after or case.status, case.assignee


async def sign(work: Work, *, principal: Principal, case_id: str) -> None:
    """The assignee signs for the case (签收)."""
    async with _locked(work, case_id) as (tx, case):
        status, assignee = _check("sign", principal, case)
        await tx.store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now, signed_at=tx.now)
        await _step(tx, case, "sign", principal, None)
        await tx.publish(
            case_id, CaseSigned(case_id=case_id, assignee=assignee, attempt=case.attempt, signed_at=tx.now)
        )


async def decline(
    work: Work,
    *,
    principal: Principal,
    case_id: str,
    reason_code: DeclineReason,
    reason_text: str | None,
    max_declines: int,
) -> None:
    """The assignee declines (退单); the case goes to the next candidate or to arbitration."""
    if reason_code == "other" and not reason_text:
        raise InvalidInput("reason_text", "required when reason_code is 'other'")
    async with _locked(work, case_id) as (tx, case):
        _status, assignee = _check("decline", principal, case)
        count = await tx.store.add_decline(
            tx.conn,
            case_id=case_id,
            attempt=case.attempt,
            assignee=assignee,
            reason_code=reason_code,
            reason_text=reason_text,
            now=tx.now,
        )
        await tx.store.release_team_slot(tx.conn, case_id=case_id)
        await _step(tx, case, "decline", principal, f"{reason_code}: {reason_text or ''}".rstrip(": "))
        declined = CaseDeclined(
            case_id=case_id,
            assignee=assignee,
            attempt=case.attempt,
            reason_code=reason_code,
            reason_text=reason_text,
            decline_count=count,
            declined_at=tx.now,
        )
        await tx.publish(case_id, declined)
        why = workflow.needs_arbitration(count, max_declines=max_declines, next_candidate=assignee)
        if why is None:
            exclude = await tx.store.decliners(tx.conn, case_id=case_id)
            decision = await dispatch.choose(tx, case_id=case_id, facts=dispatch.facts_of(case), exclude=exclude)
            why = workflow.needs_arbitration(count, max_declines=max_declines, next_candidate=decision.assignee)
            if why is None:
                await dispatch.assign(tx, case, decision, decided_by="rules")
                return
        await dispatch.request_arbitration(tx, case, reason=why, decline_count=count)


async def progress(work: Work, *, principal: Principal, case_id: str, note: str, public_note: str | None) -> None:
    """A progress note; the first one is the case's first feedback."""
    async with _locked(work, case_id) as (tx, case):
        _status, assignee = _check("progress", principal, case)
        first = case.first_feedback_at is None
        stamps: dict[str, datetime] = {"first_feedback_at": tx.now} if first else {}
        await tx.store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, **stamps)
        await _step(tx, case, "progress", principal, note)
        await tx.publish(
            case_id,
            CaseProgressed(
                case_id=case_id,
                assignee=assignee,
                note=note,
                public_note=public_note,
                first_feedback=first,
                at=tx.now,
            ),
        )


async def await_resident(work: Work, *, principal: Principal, case_id: str, note: str | None) -> None:
    """The assignee waits on the resident: SLA clocks pause."""
    async with _locked(work, case_id) as (tx, case):
        status, assignee = _check("await_resident", principal, case)
        await tx.store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now)
        await _step(tx, case, "await_resident", principal, note)
        await tx.publish(case_id, CaseAwaitingResident(case_id=case_id, assignee=assignee, note=note, at=tx.now))


async def resume(work: Work, *, principal: Principal, case_id: str) -> None:
    """The wait on the resident is over."""
    async with _locked(work, case_id) as (tx, case):
        status, assignee = _check("resume", principal, case)
        await tx.store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now)
        await _step(tx, case, "resume", principal, None)
        await tx.publish(case_id, CaseResumed(case_id=case_id, assignee=assignee, at=tx.now))


async def resolve(work: Work, *, principal: Principal, case_id: str, note: str, public_note: str | None) -> None:
    """The assignee resolved the case; the team's capacity slot is freed."""
    async with _locked(work, case_id) as (tx, case):
        status, assignee = _check("resolve", principal, case)
        await tx.store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now, resolved_at=tx.now)
        await tx.store.release_team_slot(tx.conn, case_id=case_id)
        await _step(tx, case, "resolve", principal, note)
        await tx.publish(
            case_id,
            CaseResolved(
                case_id=case_id,
                assignee=assignee,
                note=note,
                public_note=public_note,
                round=case.round,
                resolved_at=tx.now,
            ),
        )


async def assign_member(work: Work, *, principal: Principal, case_id: str, member: str) -> None:
    """A team lead gives the case to one member of the team."""
    async with _locked(work, case_id) as (tx, case):
        _status, assignee = _check("assign_member", principal, case)
        team = tx.catalogue.team(assignee.code)
        members = [m.code for m in team.members] if team else []
        if member not in members:
            raise InvalidInput(
                "member", f"unknown member {member!r} of team {assignee.code}; valid: {', '.join(members)}"
            )
        await tx.store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, member=member)
        await _step(tx, case, "assign_member", principal, member)
        await tx.publish(case_id, MemberAssigned(case_id=case_id, team=assignee.code, member=member, at=tx.now))


async def change_priority(
    work: Work, *, principal: Principal, case_id: str, priority: Priority, note: str | None
) -> bool:
    """The street office changes the priority; False when it already was that."""
    async with _locked(work, case_id) as (tx, case):
        if not workflow.is_street_office(principal, case.street):
            raise Forbidden(f"only the street office of {case.street} may change the priority")
        if case.status == "closed":
            raise Conflict("the case is closed", code="wrong_state", state=case.status)
        if priority == case.priority:
            return False
        await tx.store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, priority=priority)
        await _step(
            tx,
            case,
            "priority",
            principal,
            f"{case.priority} → {priority}" + (f": {note}" if note else ""),
        )
        sla_class = rules.sla_class_for(case.category, priority, tx.catalogue)
        await tx.publish(case_id, PriorityChanged(case_id=case_id, priority=priority, sla_class=sla_class, at=tx.now))
        return True


def _check_assignee_in_street(catalogue: Catalogue, street: str, assignee: Assignee) -> None:
    """422 unless the assignee belongs to this street's catalogue (its departments, teams or office)."""
    if assignee.kind == "department":
        valid = sorted(d.code for d in catalogue.departments if street in d.streets)
    elif assignee.kind == "team":
        communities = {c.code for c in catalogue.communities if c.street == street}
        valid = sorted(t.code for t in catalogue.teams if communities & set(t.communities))
    else:
        valid = [street]
    if assignee.code not in valid:
        raise InvalidInput(
            "assignee.code",
            f"{assignee.kind} {assignee.code!r} is not in the catalogue of street {street}; "
            f"valid: {', '.join(valid) or 'none'}",
        )


async def arbitrate(work: Work, *, principal: Principal, case_id: str, assignee: Assignee, note: str | None) -> None:
    """The street office's final decision: the chosen assignee cannot decline."""
    async with _locked(work, case_id) as (tx, case):
        workflow.check_dispatch(principal=principal, street=case.street, status=case.status, assignee=case.assignee)
        _check_assignee_in_street(tx.catalogue, case.street, assignee)
        await tx.store.release_team_slot(tx.conn, case_id=case_id)
        if assignee.kind == "team":
            team = tx.catalogue.team(assignee.code)
            assert team is not None
            if not await tx.store.take_team_slot(tx.conn, case_id=case_id, team=team.code, capacity=team.capacity):
                raise Conflict(
                    f"team {team.code} is at its capacity of {team.capacity}", code="team_full", state=case.status
                )
        reasons = [f"street office {case.street} arbitrated (final, no further decline)"]
        if case.decline_count:
            reasons.append(f"after {case.decline_count} decline(s)")
        if note:
            reasons.append(note)
        await _step(tx, case, "arbitrate", principal, f"{assignee.kind}:{assignee.code}")
        decision = rules.Decision(assignee, reasons=tuple(reasons), rule="department")
        await dispatch.assign(tx, case, decision, decided_by="arbitration", final=True)


async def triage(work: Work, *, principal: Principal, case_id: str, category: str, note: str | None) -> None:
    """The street office gives an untriaged case its category; the rules then pick the assignee."""
    async with _locked(work, case_id) as (tx, case):
        workflow.check_dispatch(principal=principal, street=case.street, status=case.status, assignee=case.assignee)
        if tx.catalogue.category(category) is None:
            valid = ", ".join(c.code for c in tx.catalogue.categories)
            raise InvalidInput("category", f"unknown category {category!r}; valid: {valid}")
        await tx.store.set_need_category(tx.conn, case_id=case_id, category=category)
        triaged = await tx.store.get_case(tx.conn, case_id=case_id)
        assert triaged is not None  # the row is locked by this transaction
        case = triaged
        await _step(tx, case, "triage", principal, category + (f": {note}" if note else ""))
        exclude = await tx.store.decliners(tx.conn, case_id=case_id)
        decision = await dispatch.choose(tx, case_id=case_id, facts=dispatch.facts_of(case), exclude=exclude)
        decision = decision.with_note(f"street office {case.street} triaged it as {category}")
        await dispatch.assign(tx, case, decision, decided_by="triage")


async def _step(tx: Tx, case: Case, action: str, principal: Principal, note: str | None) -> None:
    await tx.store.add_step(
        tx.conn, case_id=case.case_id, round_=case.round, action=action, actor=actor_of(principal), note=note, at=tx.now
    )
