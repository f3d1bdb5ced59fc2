"""Catalogue → SLA policies: the calendar adapter, class choice and what catalogue validation refuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import yaml

from services.sla.calendar import add_business_time
from services.sla.policy import Policies, PolicyCache, to_calendar
from shared.catalogue import CatalogueError, load_catalogue, parse_catalogue
from shared.settings import REPO_ROOT

DEMO = REPO_ROOT / "catalogue" / "demo.yaml"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def test_working_hours_calendar_converts_with_holidays_and_make_up_days() -> None:
    catalogue = load_catalogue(DEMO)
    definition = catalogue.calendar("workday")
    assert definition is not None
    cal = to_calendar(definition)
    assert cal.timezone == "Asia/Shanghai"
    assert [(sorted(w.days), w.start, w.end) for w in cal.windows] == [([0, 1, 2, 3, 4], time(8, 30), time(17, 30))]
    assert date(2026, 10, 1) in cal.holidays
    assert date(2026, 10, 10) in cal.workdays
    # Sat 10 Oct 2026 is a make-up working day (调休): 9 working hours from its opening end at its close.
    saturday = datetime(2026, 10, 10, 0, 30, tzinfo=UTC)  # 08:30 Tianjin
    assert add_business_time(cal, saturday, timedelta(hours=9)) == datetime(2026, 10, 10, 9, 30, tzinfo=UTC)


def test_always_calendar_converts_to_24x7() -> None:
    definition = load_catalogue(DEMO).calendar("24x7")
    assert definition is not None
    assert to_calendar(definition).always


def test_unknown_codes_fall_back_to_something_that_still_watches() -> None:
    policies = Policies(load_catalogue(DEMO))
    assert policies.sla_class("nope").code == "general"
    assert policies.calendar("nope").always
    assert Policies.window(policies.sla_class("complex_workday"), "response") == (timedelta(hours=2), "24x7")
    assert Policies.window(policies.sla_class("complex_workday"), "resolution") == (timedelta(hours=135), "workday")


def test_policies_are_rebuilt_only_when_the_catalogue_changes() -> None:
    catalogue = load_catalogue(DEMO)
    cache = PolicyCache(default_class="general")
    first = cache.of(catalogue)
    assert cache.of(catalogue) is first


def test_catalogue_validation_lists_every_bad_policy_at_once(raw: dict[str, Any]) -> None:
    data = dict(raw)
    classes = [dict(c) for c in raw["sla_classes"]]
    classes[0]["response"] = "0m"  # zero duration
    classes[1]["resolve"] = "-2h"  # negative duration
    classes[2]["calendar"] = "moon_calendar"  # unknown calendar
    data["sla_classes"] = classes
    calendars = [dict(c) for c in raw["calendars"]]
    calendars[1]["holidays"] = ["2026-02-30", "2026-13-01", "next friday"]
    data["calendars"] = calendars
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(data)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "sla_classes[0].response" in text
    assert "sla_classes[1].resolve" in text
    assert "unknown calendar 'moon_calendar'" in text
    for bad in ("2026-02-30", "2026-13-01", "next friday"):
        assert bad in text
    assert len(info.value.problems) >= 6
