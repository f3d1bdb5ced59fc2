"""Intake's pure rules: status per event and the Open311 mapping, places, permissions, Open311 checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.intake.need import Need, find_community, resolve_place
from services.intake.open311 import format as fmt
from services.intake.permissions import check_submitter
from services.intake.text_rules import FieldError
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.errors import Forbidden, http_status
from shared.events import Assignee
from shared.events.routing import (
    ArbitrationRequested,
    CaseClosed,
    CaseDeclined,
    CaseProgressed,
    CaseResolved,
    CaseRouted,
    MemberAssigned,
    PriorityChanged,
)
from shared.events.status import STATUSES, is_open, open311_status
from shared.events.status import status_change as change_for

T = datetime(2026, 5, 6, 10, 0, tzinfo=UTC)
DEPT = Assignee(kind="department", code="water")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_open311_mapping_covers_every_status() -> None:
    closed = {s for s in STATUSES if open311_status(s) == "closed"}
    assert closed == {"resolved", "closed"}
    assert all(is_open(s) == (open311_status(s) == "open") for s in STATUSES)


def test_status_changes_carry_event_time_notes_and_assignees() -> None:
    routed = CaseRouted(
        case_id="c", category=None, description="d", community="x", street="wanxing", assignee=DEPT,
        submitted_at=T, routed_at=T,
    )  # fmt: skip
    assert change_for(routed) is not None
    assert (change_for(routed).status, change_for(routed).assignee) == ("routed", DEPT)  # type: ignore[union-attr]
    declined = change_for(
        CaseDeclined(
            case_id="c", assignee=DEPT, reason_code="not_our_area", reason_text="内部说明", decline_count=1,
            declined_at=T,
        )
    )  # fmt: skip
    assert declined is not None
    assert declined.note == "not_our_area"  # the department's free text stays internal
    assert declined.assignee is None
    progress = change_for(CaseProgressed(case_id="c", assignee=DEPT, note="已派人", at=T + timedelta(hours=1)))
    assert progress is not None
    assert (progress.status, progress.status_note, progress.at) == ("in_progress", "已派人", T + timedelta(hours=1))
    resolved = change_for(CaseResolved(case_id="c", assignee=DEPT, note="修好了", round=2, resolved_at=T))
    assert resolved is not None
    assert (resolved.status, resolved.resolved_round) == ("resolved", 2)
    arbitration = change_for(ArbitrationRequested(case_id="c", street="wanxing", reason="r", requested_at=T))
    assert arbitration is not None
    assert arbitration.assignee == Assignee(kind="street_office", code="wanxing")
    member = change_for(MemberAssigned(case_id="c", team="veterans", member="vet-zhao", at=T))
    assert member is not None
    assert member.status == "in_progress"
    closed = change_for(CaseClosed(case_id="c", solved=False, closed_at=T))
    assert closed is not None
    assert closed.status == "closed"
    assert change_for(PriorityChanged(case_id="c", priority="high", at=T)) is None


def test_places_from_community_name_grid_point_or_address(catalogue: Catalogue) -> None:
    assert find_community(catalogue, "朝阳里社区").code == "chaoyangli"  # type: ignore[union-attr]
    assert find_community(catalogue, "Chaoyangli Community").code == "chaoyangli"  # type: ignore[union-attr]
    place = resolve_place(catalogue, community=None, grid="chaoyangli-g2", lat=None, lon=None, address=None)
    assert (place[0].code, place[1]) == ("chaoyangli", "chaoyangli-g2")
    near = resolve_place(catalogue, community=None, grid=None, lat=39.1176, lon=117.1631, address=None)
    assert near[0].code == "jinrongjie"
    named = resolve_place(catalogue, community=None, grid=None, lat=None, lon=None, address="宜宾西里5号楼")
    assert named[0].code == "yibinxili"
    with pytest.raises(FieldError) as far:
        resolve_place(catalogue, community=None, grid=None, lat=31.23, lon=121.47, address=None)  # Shanghai
    assert far.value.field == "lat"
    with pytest.raises(FieldError) as clash:
        resolve_place(catalogue, community="jinrongjie", grid="chaoyangli-g1", lat=None, lon=None, address=None)
    assert clash.value.field == "grid"
    with pytest.raises(FieldError) as nothing:
        resolve_place(catalogue, community=None, grid=None, lat=None, lon=None, address="3号楼")
    assert nothing.value.field == "community"


def _need(kind: str = "resident", street: str = "wanxing") -> Need:
    return Need(description="d", community="jinrongjie", street=street, reporter_kind=kind)


def test_who_may_submit_what() -> None:
    check_submitter(None, _need(), force_new=False)
    grid = Principal(role="grid_worker", scope="wanxing")
    check_submitter(grid, _need("grid_worker"), force_new=True)
    with pytest.raises(Forbidden) as kind:
        check_submitter(None, _need("hotline"), force_new=False)
    assert (http_status(kind.value), kind.value.fields[0]["field"]) == (403, "reporter.kind")
    with pytest.raises(Forbidden) as force:
        check_submitter(Principal(role="street_office", scope="wanxing"), _need("grid_worker"), force_new=True)
    assert force.value.fields[0]["field"] == "force_new"
    with pytest.raises(Forbidden) as scope:
        check_submitter(grid, _need("grid_worker", street="nanyingmen"), force_new=False)
    assert scope.value.fields[0]["field"] == "community"


def test_date_window_defaults_and_limits() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert fmt.date_window(None, None, now=now, zone=SHANGHAI) == (now - timedelta(days=90), now)
    start, end = fmt.date_window("2026-05-01", None, now=now, zone=SHANGHAI)
    assert start == datetime(2026, 5, 1, tzinfo=SHANGHAI)
    assert end - start == timedelta(days=90)
    # A '+' left unencoded in a query string arrives as a space.
    start, _ = fmt.date_window("2026-05-01T10:00:00 08:00", "2026-05-02T00:00:00Z", now=now, zone=SHANGHAI)
    assert start == datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    with pytest.raises(FieldError, match="90 days"):
        fmt.date_window("2026-01-01", "2026-05-01", now=now, zone=SHANGHAI)
    with pytest.raises(FieldError) as order:
        fmt.date_window("2026-05-02", "2026-05-01", now=now, zone=SHANGHAI)
    assert order.value.field == "start_date"


def test_attributes_checked_against_the_definition(catalogue: Catalogue) -> None:
    gas = catalogue.category("gas_smell")
    care = catalogue.category("empty_nest_care")
    assert gas is not None
    assert care is not None
    pairs = [("attribute[help_wanted][]", "errands"), ("attribute[help_wanted][]", "meals"), ("lat", "1")]
    assert fmt.check_attributes(care, fmt.split_attributes(pairs)) == {"help_wanted": ["errands", "meals"]}
    assert fmt.check_attributes(gas, {"smell_now": ["yes"]}) == {"smell_now": "yes"}
    for given, problem in (({}, "required"), ({"smell_now": ["maybe"]}, "not one of"), ({"x": ["1"]}, "no attribute")):
        with pytest.raises(FieldError, match=problem):
            fmt.check_attributes(gas, given)
    with pytest.raises(FieldError, match="one value"):
        fmt.check_attributes(gas, {"smell_now": ["yes", "no"]})


def test_service_request_hides_a_vulnerable_residents_place(catalogue: Catalogue) -> None:
    row = {
        "case_id": "c1", "status": "signed", "status_note": None, "category": "empty_nest_care",
        "description": "独居老人需要代购", "assignee_kind": "team", "assignee_code": "veterans",
        "reporter_count": 1, "submitted_at": T, "updated_at": T, "expected_at": None, "address": "3号楼",
        "address_id": None, "lat": 39.1, "lon": 117.2, "media_url": None, "vulnerable": True,
        "community": "jinrongjie", "public_note": "已上门",
    }  # fmt: skip
    request = fmt.service_request(row, catalogue, SHANGHAI)
    assert (request["status"], request["agency_responsible"]) == ("open", "退役军人志愿者服务队")
    assert request["address"] is request["lat"] is request["description"] is None
    assert request["requested_datetime"].utcoffset() == timedelta(hours=8)
