"""The three rates' bucketing and counting rules (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.sla.rates import Facts, bucket_of, default_range, dimension_values, increments, local_day, ratio

FACTS = Facts("wanxing", "jinrongjie", "street_light_out", "department", "urban_mgmt")


def test_buckets_start_on_monday_and_the_first() -> None:
    wednesday = date(2026, 3, 4)
    assert bucket_of(wednesday, "day") == wednesday
    assert bucket_of(wednesday, "week") == date(2026, 3, 2)
    assert bucket_of(date(2026, 3, 1), "week") == date(2026, 2, 23)  # a Sunday belongs to the week before
    assert bucket_of(wednesday, "month") == date(2026, 3, 1)


def test_days_are_local_to_the_catalogue() -> None:
    late_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Tianjin
    assert local_day(late_utc, "Asia/Shanghai") == date(2026, 3, 2)
    assert local_day(late_utc, "UTC") == date(2026, 3, 1)


def test_an_event_counts_in_every_dimension_and_period() -> None:
    at = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    incs = increments(FACTS, at=at, timezone="Asia/Shanghai", counts={"dispatched": 1, "signed_in_time": 0})
    assert len(incs) == 4 * 3  # four dimensions x three periods; zero counts are left out
    assert {(i.dimension, i.value) for i in incs} == {
        ("department", "urban_mgmt"),
        ("street", "wanxing"),
        ("community", "jinrongjie"),
        ("category", "street_light_out"),
    }
    assert {i.street for i in incs} == {"wanxing"}
    assert {(i.period, i.bucket) for i in incs} == {
        ("day", date(2026, 3, 4)),
        ("week", date(2026, 3, 2)),
        ("month", date(2026, 3, 1)),
    }


def test_unknown_facts_and_street_office_assignees_are_left_out() -> None:
    assert dimension_values(Facts(None, None, None, "street_office", "wanxing")) == []
    assert dimension_values(Facts("wanxing", None, None, "team", "veterans")) == [
        ("team", "veterans"),
        ("street", "wanxing"),
    ]


def test_ratio_and_default_range() -> None:
    assert ratio(1, 3) == 0.3333
    assert ratio(0, 0) is None
    assert default_range("day", date(2026, 3, 31)) == (date(2026, 3, 2), date(2026, 3, 31))
    assert default_range("month", date(2026, 3, 31))[0] == date(2025, 5, 1)
