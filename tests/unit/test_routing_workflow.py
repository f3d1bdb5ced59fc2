"""The case workflow rules: who may take which step in which state."""

from __future__ import annotations

import pytest

from services.routing.cases.workflow import ALLOWED, STATUSES, Refused, check_dispatch, check_step, needs_arbitration
from shared.auth import Principal
from shared.events import Assignee

WATER = Assignee(kind="department", code="water")
TEAM = Assignee(kind="team", code="veterans")
OFFICE = Assignee(kind="street_office", code="wanxing")


def key(role: str, scope: str | None) -> Principal:
    return Principal(role=role, scope=scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "principal",
    [key("department", "gas"), key("team", "water"), key("admin", None), key("street_office", "wanxing")],
)
def test_only_the_assignee_acts(principal: Principal) -> None:
    with pytest.raises(Refused) as err:
        check_step("sign", principal=principal, assignee=WATER, status="routed")
    assert err.value.status == 403


def test_happy_path_states() -> None:
    water = key("department", "water")
    assert check_step("sign", principal=water, assignee=WATER, status="routed") == "signed"
    assert check_step("progress", principal=water, assignee=WATER, status="signed") is None
    assert check_step("await_resident", principal=water, assignee=WATER, status="signed") == "awaiting_resident"
    assert check_step("resume", principal=water, assignee=WATER, status="awaiting_resident") == "signed"
    assert check_step("resolve", principal=water, assignee=WATER, status="signed") == "resolved"
    assert check_step("sign", principal=water, assignee=WATER, status="reopened") == "signed"


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_wrong_state_is_409_with_the_state(action: str) -> None:
    for status in STATUSES:
        if status in ALLOWED[action]:  # type: ignore[index]
            continue
        with pytest.raises(Refused) as err:
            check_step(action, principal=key("team", "veterans"), assignee=TEAM, status=status)  # type: ignore[arg-type]
        assert err.value.status == 409
        assert err.value.state == status


def test_arbitrated_case_cannot_be_declined() -> None:
    with pytest.raises(Refused) as err:
        check_step("decline", principal=key("department", "water"), assignee=WATER, status="routed", final=True)
    assert (err.value.status, err.value.code) == (409, "final")


def test_street_office_cannot_decline_its_own_case() -> None:
    with pytest.raises(Refused) as err:
        check_step("decline", principal=key("street_office", "wanxing"), assignee=OFFICE, status="routed")
    assert err.value.status == 409


def test_only_teams_assign_members() -> None:
    with pytest.raises(Refused) as err:
        check_step("assign_member", principal=key("department", "water"), assignee=WATER, status="signed")
    assert err.value.code == "not_a_team"
    assert check_step("assign_member", principal=key("team", "veterans"), assignee=TEAM, status="signed") is None


def test_dispatch_is_for_the_street_office_of_the_case() -> None:
    check_dispatch(principal=key("street_office", "wanxing"), street="wanxing", status="arbitration", assignee=OFFICE)
    check_dispatch(principal=key("admin", None), street="wanxing", status="routed", assignee=OFFICE)
    with pytest.raises(Refused) as err:
        check_dispatch(
            principal=key("street_office", "nanyingmen"), street="wanxing", status="arbitration", assignee=OFFICE
        )
    assert err.value.status == 403
    with pytest.raises(Refused) as err:
        check_dispatch(principal=key("street_office", "wanxing"), street="wanxing", status="routed", assignee=WATER)
    assert (err.value.status, err.value.state) == (409, "routed")


def test_when_a_decline_goes_to_arbitration() -> None:
    assert needs_arbitration(1, max_declines=2, next_candidate=WATER) is None
    assert needs_arbitration(2, max_declines=2, next_candidate=WATER) == "declined 2 times"
    assert needs_arbitration(1, max_declines=2, next_candidate=OFFICE) == "no candidate left"
    assert needs_arbitration(1, max_declines=2, next_candidate=None) == "no candidate left"
