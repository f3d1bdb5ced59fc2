"""The case workflow as pure rules: which step is allowed in which state, by whom, and where it leads."""

from __future__ import annotations

from typing import Literal, get_args

from shared.auth import Principal
from shared.errors import Conflict, DomainError, Forbidden, http_status
from shared.events import Assignee, PoisonMessage

Status = Literal["routed", "signed", "awaiting_resident", "resolved", "arbitration", "reopened", "closed"]
STATUSES: tuple[str, ...] = get_args(Status)
# Open = someone still has to act; a team's capacity counts its cases in these states.
OPEN_STATUSES: frozenset[str] = frozenset({"routed", "signed", "awaiting_resident", "reopened", "arbitration"})

Action = Literal["sign", "decline", "progress", "await_resident", "resume", "resolve", "assign_member"]

# The states each assignee step may start from.
ALLOWED: dict[Action, frozenset[str]] = {
    "sign": frozenset({"routed", "reopened"}),
    "decline": frozenset({"routed"}),
    "progress": frozenset({"signed", "awaiting_resident"}),
    "await_resident": frozenset({"signed"}),
    "resume": frozenset({"awaiting_resident"}),
    "resolve": frozenset({"signed", "awaiting_resident"}),
    "assign_member": frozenset({"routed", "reopened", "signed", "awaiting_resident"}),
}
# Where each step leads; None = the state does not change.
NEXT: dict[Action, str | None] = {
    "sign": "signed",
    "decline": None,  # re-routed or sent to arbitration: decided by the service layer
    "progress": None,
    "await_resident": "awaiting_resident",
    "resume": "signed",
    "resolve": "resolved",
    "assign_member": None,
}


class Refused(DomainError):
    """A step that may not happen: a stable `code`, the case's `state`; its HTTP status comes from its class."""

    def __init__(self, code: str, message: str, *, state: str | None = None) -> None:
        super().__init__(message, code=code, state=state)
        self.state = state

    @property
    def status(self) -> int:
        """403 or 409, by the one mapping in shared.errors."""
        return http_status(self)


class StepForbidden(Refused, Forbidden):
    """The caller may not take this step (403)."""


class StepConflict(Refused, Conflict):
    """The case is not in a state this step may start from (409)."""


def is_assignee(principal: Principal, assignee: Assignee | None) -> bool:
    """Whether the caller's key belongs to the case's current assignee (admin keys do not act for assignees)."""
    if assignee is None or principal.scope is None:
        return False
    return principal.role == assignee.kind and principal.scope == assignee.code


def is_street_office(principal: Principal, street: str) -> bool:
    """Whether the caller speaks for the street office of `street` (admin always does)."""
    return principal.role == "admin" or (principal.role == "street_office" and principal.scope in (None, street))


def check_step(
    action: Action, *, principal: Principal, assignee: Assignee | None, status: str, final: bool = False
) -> str | None:
    """Refuse a step that is not allowed; return the state it leads to (None: unchanged)."""
    if not is_assignee(principal, assignee):
        raise StepForbidden("not_assignee", "only the current assignee's key may do this", state=status)
    if status not in ALLOWED[action]:
        allowed = ", ".join(sorted(ALLOWED[action]))
        raise StepConflict(
            "wrong_state", f"cannot {action} a case that is {status} (allowed in: {allowed})", state=status
        )
    if action == "decline":
        if final:
            raise StepConflict(
                "final", "the street office's arbitration is final: this case cannot be declined", state=status
            )
        if assignee is not None and assignee.kind == "street_office":
            raise StepConflict(
                "street_office", "the street office cannot decline; use triage or arbitrate instead", state=status
            )
    if action == "assign_member" and assignee is not None and assignee.kind != "team":
        raise StepConflict("not_a_team", "only a volunteer team assigns members", state=status)
    return NEXT[action]


def check_dispatch(*, principal: Principal, street: str, status: str, assignee: Assignee | None) -> None:
    """Refuse an arbitration or triage the caller may not make or the case is not waiting for."""
    if not is_street_office(principal, street):
        raise StepForbidden("forbidden", f"only the street office of {street} may decide this case", state=status)
    waiting = status == "arbitration" or (
        status == "routed" and assignee is not None and assignee.kind == "street_office"
    )
    if not waiting:
        raise StepConflict(
            "wrong_state",
            f"the case is {status}: only cases in arbitration or held by the street office can be dispatched",
            state=status,
        )


def needs_arbitration(decline_count: int, *, max_declines: int, next_candidate: Assignee | None) -> str | None:
    """Why a declined case goes to arbitration, or None when it is re-routed to `next_candidate`."""
    if decline_count >= max_declines:
        return f"declined {decline_count} times"
    if next_candidate is None or next_candidate.kind == "street_office":
        return "no candidate left"
    return None


# What the resident's callback (回访) does: nothing (an earlier round's or a repeated answer), close, or reopen.
FeedbackOutcome = Literal["stale", "close", "reopen"]


def feedback_outcome(
    *, case_id: str, status: str, round_: int, assignee: Assignee | None, feedback_round: int, reopen: bool
) -> FeedbackOutcome:
    """Decide what the callback does to the case; an answer that can never apply is a PoisonMessage."""
    if feedback_round < round_ or status == "closed":
        return "stale"  # an answer for an earlier round, or a repeated one: already acted on
    if status != "resolved" or feedback_round > round_:
        raise PoisonMessage("wrong-state", f"feedback round {feedback_round} for case {case_id} which is {status}")
    if not reopen:
        return "close"
    if assignee is None:
        raise PoisonMessage("wrong-state", f"case {case_id} has no assignee to reopen to")
    return "reopen"
