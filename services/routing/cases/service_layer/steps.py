"""The workflow steps the API offers, each one transaction: check, change state, queue its event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from services.routing import dispatch, rules, store, workflow
from services.routing.dispatch import Tx
from services.routing.models import ArbitrateIn, DeclineIn, MemberIn, NoteIn, OptionalNoteIn, PriorityIn, TriageIn
from services.routing.store import Case
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.events import Assignee
from shared.events.routing import (
    CaseAwaitingResident,
    CaseDeclined,
    CaseProgressed,
    CaseResolved,
    CaseResumed,
    CaseSigned,
    MemberAssigned,
    PriorityChanged,
)
from shared.http import ApiError, field_error
from shared.service import ServiceRuntime


def actor_of(principal: Principal) -> str:
    """How a caller appears in the case history."""
    return principal.name or f"{principal.role}:{principal.scope or '*'}"


def _refusal(exc: workflow.Refused) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, state=exc.state)


@asynccontextmanager
async def _locked(rt: ServiceRuntime, case_id: str) -> AsyncIterator[tuple[Tx, Case]]:
    """A transaction holding the case's row lock, so concurrent steps on one case queue up."""
    async with rt.pool.acquire() as conn, conn.transaction():
        case = await store.get_case(conn, case_id=case_id, for_update=True)
        if case is None or case.status == "new":
            raise ApiError(404, "not_found", f"no case {case_id}")
        tx = Tx(conn=conn, outbox=rt.outbox, catalogue=rt.catalogue, now=rt.clock.now())
        try:
            yield tx, case
        except workflow.Refused as exc:
            raise _refusal(exc) from None


def _check(action: workflow.Action, principal: Principal, case: Case) -> tuple[str, Assignee]:
    """Refuse the step unless allowed; the state it leads to and the acting assignee."""
    after = workflow.check_step(
        action, principal=principal, assignee=case.assignee, status=case.status, final=case.final
    )
    if case.assignee is None:  # check_step refuses a case without an assignee; this narrows the type
        raise workflow.Refused(403, "not_assignee", "the case has no assignee", state=case.status)
    return after or case.status, case.assignee


async def sign(rt: ServiceRuntime, *, principal: Principal, case_id: str) -> None:
    """The assignee signs for the case (签收)."""
    async with _locked(rt, case_id) as (tx, case):
        status, assignee = _check("sign", principal, case)
        await store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now, signed_at=tx.now)
        await _step(tx, case, "sign", principal, None)
        await tx.publish(
            case_id, CaseSigned(case_id=case_id, assignee=assignee, attempt=case.attempt, signed_at=tx.now)
        )


async def decline(
    rt: ServiceRuntime, *, principal: Principal, case_id: str, body: DeclineIn, max_declines: int
) -> None:
    """The assignee declines (退单); the case goes to the next candidate or to arbitration."""
    if body.reason_code == "other" and not body.reason_text:
        raise field_error("reason_text", "required when reason_code is 'other'")
    async with _locked(rt, case_id) as (tx, case):
        _status, assignee = _check("decline", principal, case)
        count = await store.add_decline(
            tx.conn,
            case_id=case_id,
            attempt=case.attempt,
            assignee=assignee,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            now=tx.now,
        )
        await store.release_team_slot(tx.conn, case_id=case_id)
        await _step(tx, case, "decline", principal, f"{body.reason_code}: {body.reason_text or ''}".rstrip(": "))
        declined = CaseDeclined(
            case_id=case_id,
            assignee=assignee,
            attempt=case.attempt,
            reason_code=body.reason_code,
            reason_text=body.reason_text,
            decline_count=count,
            declined_at=tx.now,
        )
        await tx.publish(case_id, declined)
        why = workflow.needs_arbitration(count, max_declines=max_declines, next_candidate=assignee)
        if why is None:
            exclude = await store.decliners(tx.conn, case_id=case_id)
            decision = await dispatch.choose(tx, case_id=case_id, facts=dispatch.facts_of(case), exclude=exclude)
            why = workflow.needs_arbitration(count, max_declines=max_declines, next_candidate=decision.assignee)
            if why is None:
                await dispatch.assign(tx, case, decision, decided_by="rules")
                return
        await dispatch.request_arbitration(tx, case, reason=why, decline_count=count)


async def progress(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: NoteIn) -> None:
    """A progress note; the first one is the case's first feedback."""
    async with _locked(rt, case_id) as (tx, case):
        _status, assignee = _check("progress", principal, case)
        first = case.first_feedback_at is None
        stamps: dict[str, datetime] = {"first_feedback_at": tx.now} if first else {}
        await store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, **stamps)
        await _step(tx, case, "progress", principal, body.note)
        await tx.publish(
            case_id,
            CaseProgressed(
                case_id=case_id,
                assignee=assignee,
                note=body.note,
                public_note=body.public_note,
                first_feedback=first,
                at=tx.now,
            ),
        )


async def await_resident(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: OptionalNoteIn) -> None:
    """The assignee waits on the resident: SLA clocks pause."""
    async with _locked(rt, case_id) as (tx, case):
        status, assignee = _check("await_resident", principal, case)
        await store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now)
        await _step(tx, case, "await_resident", principal, body.note)
        await tx.publish(case_id, CaseAwaitingResident(case_id=case_id, assignee=assignee, note=body.note, at=tx.now))


async def resume(rt: ServiceRuntime, *, principal: Principal, case_id: str) -> None:
    """The wait on the resident is over."""
    async with _locked(rt, case_id) as (tx, case):
        status, assignee = _check("resume", principal, case)
        await store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now)
        await _step(tx, case, "resume", principal, None)
        await tx.publish(case_id, CaseResumed(case_id=case_id, assignee=assignee, at=tx.now))


async def resolve(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: NoteIn) -> None:
    """The assignee resolved the case; the team's capacity slot is freed."""
    async with _locked(rt, case_id) as (tx, case):
        status, assignee = _check("resolve", principal, case)
        await store.set_status(tx.conn, case_id=case_id, status=status, now=tx.now, resolved_at=tx.now)
        await store.release_team_slot(tx.conn, case_id=case_id)
        await _step(tx, case, "resolve", principal, body.note)
        await tx.publish(
            case_id,
            CaseResolved(
                case_id=case_id,
                assignee=assignee,
                note=body.note,
                public_note=body.public_note,
                round=case.round,
                resolved_at=tx.now,
            ),
        )


async def assign_member(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: MemberIn) -> None:
    """A team lead gives the case to one member of the team."""
    async with _locked(rt, case_id) as (tx, case):
        _status, assignee = _check("assign_member", principal, case)
        team = tx.catalogue.team(assignee.code)
        members = [m.code for m in team.members] if team else []
        if body.member not in members:
            raise field_error(
                "member", f"unknown member {body.member!r} of team {assignee.code}; valid: {', '.join(members)}"
            )
        await store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, member=body.member)
        await _step(tx, case, "assign_member", principal, body.member)
        await tx.publish(case_id, MemberAssigned(case_id=case_id, team=assignee.code, member=body.member, at=tx.now))


async def change_priority(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: PriorityIn) -> bool:
    """The street office changes the priority; False when it already was that."""
    async with _locked(rt, case_id) as (tx, case):
        if not workflow.is_street_office(principal, case.street):
            raise ApiError(403, "forbidden", f"only the street office of {case.street} may change the priority")
        if case.status == "closed":
            raise ApiError(409, "wrong_state", "the case is closed", state=case.status)
        if body.priority == case.priority:
            return False
        await store.set_status(tx.conn, case_id=case_id, status=case.status, now=tx.now, priority=body.priority)
        await _step(
            tx,
            case,
            "priority",
            principal,
            f"{case.priority} → {body.priority}" + (f": {body.note}" if body.note else ""),
        )
        sla_class = rules.sla_class_for(case.category, body.priority, tx.catalogue)
        await tx.publish(
            case_id, PriorityChanged(case_id=case_id, priority=body.priority, sla_class=sla_class, at=tx.now)
        )
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
        raise field_error(
            "assignee.code",
            f"{assignee.kind} {assignee.code!r} is not in the catalogue of street {street}; "
            f"valid: {', '.join(valid) or 'none'}",
        )


async def arbitrate(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: ArbitrateIn) -> None:
    """The street office's final decision: the chosen assignee cannot decline."""
    async with _locked(rt, case_id) as (tx, case):
        workflow.check_dispatch(principal=principal, street=case.street, status=case.status, assignee=case.assignee)
        _check_assignee_in_street(tx.catalogue, case.street, body.assignee)
        await store.release_team_slot(tx.conn, case_id=case_id)
        if body.assignee.kind == "team":
            team = tx.catalogue.team(body.assignee.code)
            assert team is not None
            if not await store.take_team_slot(tx.conn, case_id=case_id, team=team.code, capacity=team.capacity):
                raise ApiError(
                    409, "team_full", f"team {team.code} is at its capacity of {team.capacity}", state=case.status
                )
        reasons = [f"street office {case.street} arbitrated (final, no further decline)"]
        if case.decline_count:
            reasons.append(f"after {case.decline_count} decline(s)")
        if body.note:
            reasons.append(body.note)
        await _step(tx, case, "arbitrate", principal, f"{body.assignee.kind}:{body.assignee.code}")
        decision = rules.Decision(body.assignee, reasons=tuple(reasons), rule="department")
        await dispatch.assign(tx, case, decision, decided_by="arbitration", final=True)


async def triage(rt: ServiceRuntime, *, principal: Principal, case_id: str, body: TriageIn) -> None:
    """The street office gives an untriaged case its category; the rules then pick the assignee."""
    async with _locked(rt, case_id) as (tx, case):
        workflow.check_dispatch(principal=principal, street=case.street, status=case.status, assignee=case.assignee)
        if tx.catalogue.category(body.category) is None:
            valid = ", ".join(c.code for c in tx.catalogue.categories)
            raise field_error("category", f"unknown category {body.category!r}; valid: {valid}")
        await store.set_need_category(tx.conn, case_id=case_id, category=body.category)
        case = await store.get_case(tx.conn, case_id=case_id)
        assert case is not None
        await _step(tx, case, "triage", principal, body.category + (f": {body.note}" if body.note else ""))
        exclude = await store.decliners(tx.conn, case_id=case_id)
        decision = await dispatch.choose(tx, case_id=case_id, facts=dispatch.facts_of(case), exclude=exclude)
        decision = decision.with_note(f"street office {case.street} triaged it as {body.category}")
        await dispatch.assign(tx, case, decision, decided_by="triage")


async def _step(tx: Tx, case: Case, action: str, principal: Principal, note: str | None) -> None:
    await store.add_step(
        tx.conn, case_id=case.case_id, round_=case.round, action=action, actor=actor_of(principal), note=note, at=tx.now
    )
