"""Intake's pure rules behind its use cases: the callback round, submission limits, who may submit (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.intake.feedback.models import FeedbackIn
from services.intake.feedback.rules import is_counted, needs_reopen, open_round, timeline_note
from services.intake.feedback.service_layer import answer_callback
from services.intake.limits import Limiters, check_submission, is_staff
from services.intake.need import Need
from services.intake.needs.service_layer import submit_need
from services.intake.service_layer import Deps, Outcome
from services.intake.settings import IntakeSettings
from shared.auth import Principal
from shared.catalogue import load_catalogue
from shared.clock import ManualClock
from shared.errors import Conflict, Forbidden, http_status
from shared.settings import REPO_ROOT
from shared.testing import FakeOutbox, InMemoryUnitOfWork

CATALOGUE = REPO_ROOT / "catalogue" / "demo.yaml"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SATISFIED = FeedbackIn(solved=True, satisfaction="satisfied")
COMPLAINT = FeedbackIn(solved=False, satisfaction="dissatisfied")


def test_the_round_opens_when_resolved_and_stays_open_after_its_counted_close() -> None:
    assert open_round("resolved", 2, counted_already=False) == 2
    assert open_round("closed", 2, counted_already=True) == 2  # later reporters add theirs, not counted


@pytest.mark.parametrize(
    ("status", "round_", "counted"), [("in_progress", 1, False), ("closed", 1, False), ("resolved", None, False)]
)
def test_outside_an_open_round_an_answer_is_a_conflict_naming_the_status(
    status: str, round_: int | None, counted: bool
) -> None:
    with pytest.raises(Conflict) as refused:
        open_round(status, round_, counted_already=counted)
    assert http_status(refused.value) == 409
    assert refused.value.extra == {"case_status": status}
    assert str(refused.value) == f"the case is {status}: the callback opens when the case is resolved"


def test_a_linked_reporter_cannot_close_but_can_reopen_and_only_the_first_counts() -> None:
    assert is_counted(SATISFIED, may_close=True, counted_already=False)
    assert not is_counted(SATISFIED, may_close=False, counted_already=False)
    assert is_counted(COMPLAINT, may_close=False, counted_already=False)
    assert not is_counted(COMPLAINT, may_close=True, counted_already=True)
    assert needs_reopen(FeedbackIn(solved=True, satisfaction="dissatisfied"))
    assert not needs_reopen(SATISFIED)
    assert timeline_note(COMPLAINT) == "dissatisfied, not solved"


def test_staff_are_limited_per_key_and_the_public_per_address() -> None:
    settings = IntakeSettings(rate_limit_burst=1, staff_rate_limit_burst=2)
    limiters = Limiters.of(settings)
    staff = Principal(name="hotline", role="street_office", scope="wanxing", key_id="k1")
    assert is_staff(staff)
    assert not is_staff(None)
    assert not is_staff(Principal(name="resident", role="resident", case_id="c", submission_id="s"))
    assert check_submission(limiters, staff, peer="10.0.0.1", forwarded=None) is None
    assert check_submission(limiters, staff, peer="10.0.0.1", forwarded=None) is None
    refused = check_submission(limiters, staff, peer="10.0.0.2", forwarded=None)
    assert refused is not None
    assert refused.rate.name == "submissions per staff key"
    assert refused.headers() == {"Retry-After": str(refused.retry_after)}
    assert check_submission(limiters, None, peer="10.0.0.1", forwarded=None) is None  # the public's own bucket
    public = check_submission(limiters, None, peer="10.0.0.1", forwarded=None)
    assert public is not None
    assert "submissions per client address" in public.message()
    assert check_submission(limiters, None, peer="10.0.0.3", forwarded=None) is None


def test_an_untrusted_peer_forwarded_for_header_is_not_believed() -> None:
    limiters = Limiters.of(IntakeSettings(rate_limit_burst=1))
    assert check_submission(limiters, None, peer="10.0.0.9", forwarded="1.1.1.1") is None
    # Claiming another address does not buy a new bucket: the socket peer is the client.
    assert check_submission(limiters, None, peer="10.0.0.9", forwarded="2.2.2.2") is not None


def _deps() -> Deps:
    return Deps(outbox=FakeOutbox(), catalogue=load_catalogue(CATALOGUE), clock=ManualClock(T0), threshold=0.5)


@pytest.mark.parametrize(
    ("principal", "message"),
    [
        (Principal(role="resident", case_id="other", submission_id="s1"), "this access token opens another case"),
        (Principal(role="department", scope="water"), "only the case's reporters (access token) or the street office"),
    ],
)
async def test_a_caller_who_may_not_answer_is_refused_before_anything_is_written(
    principal: Principal, message: str
) -> None:
    uow = InMemoryUnitOfWork(store=None)
    with pytest.raises(Forbidden, match=re.escape(message)) as refused:
        await answer_callback(uow, deps=_deps(), case_id="c1", principal=principal, answer=SATISFIED)  # type: ignore[arg-type]
    assert http_status(refused.value) == 403
    assert (uow.commits, uow.rollbacks, uow.published) == (0, 1, [])


class _Groups:
    """Stands in for group commit: answers every need with one outcome."""

    def __init__(self) -> None:
        self.needs: list[Need] = []

    async def submit(self, need: Need, *, force_new: bool = False) -> Outcome:
        self.needs.append(need)
        return Outcome(
            "c1", "s1", linked=True, status="routed", category="pothole", classification=None, reporter_count=3
        )


async def test_a_need_without_an_idempotency_key_joins_group_commit_and_a_link_answers_200() -> None:
    uow, groups = InMemoryUnitOfWork(store=None), _Groups()
    need = Need(description="路面有坑", community="huazhangli", street="wanxing", category="pothole")
    status, body = await submit_need(
        uow=uow,  # type: ignore[arg-type]
        groups=groups,  # type: ignore[arg-type]
        deps=_deps(),
        need=need,
        force_new=False,
        idempotency_key=None,
        request_hash="h",
    )
    assert groups.needs == [need]
    assert uow.commits == 0  # the group's own transaction holds it, not one per request
    assert status == 200
    assert (body["case_id"], body["duplicate_of"], body["reporter_count"], body["linked"]) == ("c1", "c1", 3, True)
