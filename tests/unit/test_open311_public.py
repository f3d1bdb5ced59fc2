"""What a public Open311 read of a case shows, against what staff in scope see; the coarsening rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.intake.open311 import format as fmt
from services.intake.open311.xml import to_xml
from shared.catalogue import Catalogue

T = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
ZONE = ZoneInfo("Asia/Shanghai")


def _row(**changes: Any) -> dict[str, Any]:
    row = {
        "case_id": "c1", "status": "in_progress", "category": "water_outage", "community": "huazhangli",
        "description": "5号楼停水, 请联系王秀英 13800138000", "assignee_kind": "department", "assignee_code": "water",
        "status_note": "住户王秀英独居, 先打电话", "public_note": "维修工已出发", "reporter_count": 1,
        "submitted_at": T, "updated_at": T, "expected_at": None, "address": "华章里5号楼2门301",
        "address_id": "huazhangli-g1", "lat": 39.112345, "lon": 117.158765,
        "media_url": "https://example.com/door.jpg", "vulnerable": False,
    }  # fmt: skip
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (39.112345, 39.113),  # cell [39.112, 39.114) → its centre
        (39.1139999, 39.113),
        (39.114, 39.115),
        (117.158765, 117.159),
        (-0.0001, -0.001),  # floor, not truncation, below zero
        (None, None),
    ],
)
def test_coarsen_snaps_to_the_centre_of_a_0_002_degree_cell(value: float | None, expected: float | None) -> None:
    assert fmt.PUBLIC_GRID_DEGREES >= 0.001  # at least ~100 m
    coarse = fmt.coarsen(value)
    assert coarse == (pytest.approx(expected) if expected is not None else None)
    if value is not None:
        assert abs(coarse - value) <= fmt.PUBLIC_GRID_DEGREES / 2 + 1e-9


def test_public_view_shows_category_status_public_note_community_and_a_coarse_place(catalogue: Catalogue) -> None:
    public = fmt.service_request(_row(), catalogue, ZONE)
    assert public["service_code"] == "water_outage"
    assert public["status"] == "open"
    assert public["status_notes"] == "维修工已出发"
    assert public["community"] == "huazhangli"
    assert (public["lat"], public["long"]) == (pytest.approx(39.113), pytest.approx(117.159))
    for hidden in ("description", "address", "address_id", "media_url"):
        assert public[hidden] is None, hidden
    text = to_xml("service_requests", "request", [public]).decode()
    for secret in ("王秀英", "13800138000", "华章里5号楼", "huazhangli-g1", "39.112345", "117.158765", "door.jpg"):
        assert secret not in text
        assert secret not in str(public)


def test_staff_view_shows_the_rest(catalogue: Catalogue) -> None:
    staff = fmt.service_request(_row(), catalogue, ZONE, staff=True)
    assert staff["description"].startswith("5号楼停水")
    assert staff["status_notes"] == "住户王秀英独居, 先打电话"
    assert (staff["lat"], staff["long"]) == (39.112345, 117.158765)
    assert staff["address"] == "华章里5号楼2门301"
    assert staff["address_id"] == "huazhangli-g1"
    assert staff["media_url"] == "https://example.com/door.jpg"


def test_a_vulnerable_residents_case_shows_no_place_and_no_note_publicly(catalogue: Catalogue) -> None:
    public = fmt.service_request(_row(vulnerable=True), catalogue, ZONE)
    assert public["lat"] is public["long"] is public["status_notes"] is public["description"] is None
    assert public["community"] == "huazhangli"
    staff = fmt.service_request(_row(vulnerable=True), catalogue, ZONE, staff=True)
    assert staff["lat"] == 39.112345
    assert staff["status_notes"] == "住户王秀英独居, 先打电话"


def test_without_a_public_note_the_public_sees_none(catalogue: Catalogue) -> None:
    assert fmt.service_request(_row(public_note=None), catalogue, ZONE)["status_notes"] is None
