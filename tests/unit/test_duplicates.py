"""Near-duplicate detection and geometry helpers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.duplicates import OpenCase, bounding_box, distance_m, find_duplicate

AT = datetime(2020, 5, 6, 10, 0, tzinfo=UTC)
# Chaoyangli community, Heping district, Tianjin (roughly).
LAT, LON = 39.1190, 117.1930


def case(case_id: str, **kw: object) -> OpenCase:
    base: dict[str, object] = {
        "category": "street_light",
        "lat": LAT,
        "lon": LON,
        "community": "朝阳里",
        "submitted_at": AT - timedelta(hours=1),
    }
    base.update(kw)
    return OpenCase(case_id=case_id, **base)  # type: ignore[arg-type]


def find(cases: Iterable[OpenCase], **kw: object) -> OpenCase | None:
    args: dict[str, object] = {
        "category": "street_light",
        "lat": LAT,
        "lon": LON,
        "community": "朝阳里",
        "at": AT,
        "radius_m": 50.0,
        "window": timedelta(hours=24),
    }
    args.update(kw)
    return find_duplicate(open_cases=cases, **args)  # type: ignore[arg-type]


def test_distance_known_values() -> None:
    assert distance_m(LAT, LON, LAT, LON) == 0.0
    # One degree of latitude ≈ 111.2 km on the mean sphere.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, rel=1e-3)
    # Tianjin → Beijing (Tiananmen) ≈ 113 km.
    assert distance_m(39.1190, 117.1930, 39.9087, 116.3975) == pytest.approx(112_000, rel=0.02)
    assert distance_m(0, 0, 0, 180) == pytest.approx(20_015_000, rel=1e-3)  # antipodes, no error


def test_bounding_box_contains_circle() -> None:
    box = bounding_box(LAT, LON, 1000)
    assert box.min_lat < LAT < box.max_lat
    assert box.min_lon < LON < box.max_lon
    # Points exactly 1 km north/east lie inside; the box is tight (a few metres of slack at most).
    north = LAT + 1000 / 111_195
    assert box.max_lat == pytest.approx(north, abs=1e-6)
    assert distance_m(LAT, LON, LAT, box.max_lon) == pytest.approx(1000, rel=1e-3)
    assert len(tuple(box)) == 4


def test_bounding_box_poles_and_antimeridian() -> None:
    assert bounding_box(89.999, 0, 5000)[1::2] == (-180.0, 180.0)
    assert bounding_box(0, 179.9999, 1000)[1::2] == (-180.0, 180.0)
    with pytest.raises(ValueError, match="radius"):
        bounding_box(0, 0, -1)


def test_same_place_same_category_in_window_is_duplicate() -> None:
    existing = case("C1", lat=LAT + 0.0002)  # ~22 m north
    assert find([existing]) == existing


def test_other_category_far_away_or_outside_window_is_not() -> None:
    assert find([case("C1", category="heating")]) is None
    assert find([case("C1", lat=LAT + 0.01)]) is None  # ~1.1 km
    assert find([case("C1", submitted_at=AT - timedelta(hours=25))]) is None
    assert find([case("C1", submitted_at=AT + timedelta(minutes=1))]) is None  # after `at`


def test_window_edges_inclusive() -> None:
    assert find([case("C1", submitted_at=AT - timedelta(hours=24))]) is not None
    assert find([case("C1", submitted_at=AT)]) is not None


def test_nearest_wins_then_earliest() -> None:
    far = case("far", lat=LAT + 0.0003)
    near_late = case("near_late", lat=LAT + 0.0001, submitted_at=AT - timedelta(minutes=5))
    near_early = case("near_early", lat=LAT + 0.0001, submitted_at=AT - timedelta(hours=3))
    assert find([far, near_late]) == near_late
    assert find([far, near_late, near_early]) == near_early


def test_missing_coordinates_need_community_and_address() -> None:
    no_point = case("C1", lat=None, lon=None, address="3号楼 2单元")
    # Same community alone is not enough.
    assert find([no_point], lat=None, lon=None) is None
    # Same community and same address (spacing/punctuation aside) is.
    assert find([no_point], lat=None, lon=None, address="3号楼，2单元") == no_point
    # Request has a point, case has none: falls back to the address rule.
    assert find([no_point], address="3号楼2单元") == no_point
    assert find([no_point], address="5号楼") is None
    assert find([no_point], lat=None, lon=None, address="3号楼2单元", community="新兴") is None


def test_coordinate_match_ranks_before_address_match() -> None:
    by_address = case("addr", lat=None, lon=None, address="3号楼", submitted_at=AT - timedelta(hours=9))
    by_point = case("point", lat=LAT + 0.0004, address="3号楼")
    assert find([by_address, by_point], address="3号楼") == by_point


def test_far_point_with_same_address_is_not_duplicate() -> None:
    # Both have coordinates: they decide, even if the address text agrees.
    assert find([case("C1", lat=LAT + 0.05, address="3号楼")], address="3号楼") is None


def test_argument_checks() -> None:
    with pytest.raises(ValueError, match="timezone"):
        find([], at=datetime(2020, 5, 6, 10, 0))
    with pytest.raises(ValueError, match="window"):
        find([], window=timedelta(hours=-1))
    with pytest.raises(ValueError, match="radius"):
        find([], radius_m=-5)


def test_consumes_any_iterable_once() -> None:
    cases = (case(f"C{i}", lat=LAT + i * 0.0001) for i in range(1, 5))
    found = find(cases, radius_m=100)
    assert found is not None
    assert found.case_id == "C1"
