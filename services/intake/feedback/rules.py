"""The callback's rules: which answer of a round counts, when the round is open. No I/O."""

from __future__ import annotations

from services.intake.feedback.models import FeedbackIn
from shared.errors import Conflict

# Street office and admin staff may enter an answer taken by phone (the usual 回访 in practice).
STAFF_ROLES = frozenset({"street_office", "admin"})


def needs_reopen(answer: FeedbackIn) -> bool:
    """Not solved or dissatisfied sends the case back to work."""
    return not answer.solved or answer.satisfaction == "dissatisfied"


def open_round(status: str, round_: int | None, *, counted_already: bool) -> int:
    """The round an answer goes to now: the case is resolved, or closed by this round's counted
    answer (later reporters may still add theirs); Conflict otherwise."""
    if round_ is None or not (status == "resolved" or (status == "closed" and counted_already)):
        raise Conflict(f"the case is {status}: the callback opens when the case is resolved", case_status=status)
    return round_


def is_counted(answer: FeedbackIn, *, may_close: bool, counted_already: bool) -> bool:
    """Whether this answer decides the round: the first from someone who may close it, or the first complaint."""
    return not counted_already and (may_close or needs_reopen(answer))


def timeline_note(answer: FeedbackIn) -> str:
    """The timeline's line for a counted answer."""
    return f"{answer.satisfaction}, {'solved' if answer.solved else 'not solved'}"
