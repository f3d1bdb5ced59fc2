"""Unit tests for the catalogue model, loader and validation."""

from __future__ import annotations

import copy
import json
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from shared.catalogue import (
    Catalogue,
    CatalogueError,
    CatalogueProblem,
    load_catalogue,
    parse_catalogue,
    parse_duration,
)

DEMO = Path(__file__).resolve().parents[2] / "catalogue" / "demo.yaml"
DEPARTMENTS = {
    "urban_mgmt",
    "housing",
    "education",
    "commerce",
    "civil_affairs",
    "health",
    "water",
    "power",
    "gas",
    "heating",
    "landscaping",
    "market_supervision",
    "police_desk",
}


@pytest.fixture(scope="module")
def demo() -> Catalogue:
    return load_catalogue(DEMO)


def demo_data() -> dict[str, Any]:
    """A fresh, mutable copy of the demo catalogue as plain data."""
    return copy.deepcopy(load_catalogue(DEMO).to_dict())


def index_of(items: list[dict[str, Any]], code: str) -> int:
    return next(i for i, item in enumerate(items) if item["code"] == code)


def problems_of(data: Any) -> list[CatalogueProblem]:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(data)
    return info.value.problems


def has(problems: list[CatalogueProblem], location: str, text: str) -> bool:
    return any(p.location == location and text in p.message for p in problems)


# --- the demo --------------------------------------------------------------------------------


def test_demo_loads_clean(demo: Catalogue) -> None:
    assert demo.version >= 1
    assert demo.timezone == "Asia/Shanghai"
    assert {s.code for s in demo.street_offices} == {"wanxing", "nanyingmen"}
    assert 15 <= len(demo.categories) <= 20


def test_demo_has_the_13_contracted_departments(demo: Catalogue) -> None:
    assert len(demo.departments) == 13
    assert {d.code for d in demo.departments} == DEPARTMENTS


def test_every_department_and_sla_class_is_used(demo: Catalogue) -> None:
    owners = {d for c in demo.categories for o in c.owners for d in o.departments}
    owners |= {d for c in demo.categories for d in c.default_departments}
    assert owners == DEPARTMENTS
    assert {c.sla_class for c in demo.categories} == {s.code for s in demo.sla_classes}


def test_every_category_has_an_owner_in_every_street(demo: Catalogue) -> None:
    for cat in demo.categories:
        for street in demo.street_offices:
            owned = demo.responsible_departments(cat.code, street.code)
            assert owned or cat.volunteer_ok or cat.street_fallback, (cat.code, street.code)


def test_every_category_has_keywords_but_other(demo: Catalogue) -> None:
    for cat in demo.categories:
        if cat.code != "other":
            assert cat.keywords.zh, cat.code
            assert cat.keywords.en, cat.code
            assert all(k == k.lower() for k in cat.keywords.en)


def test_working_hours_calendar_is_used_and_complete(demo: Catalogue) -> None:
    sla = demo.sla_class("complex_workday")
    assert sla is not None
    assert sla.calendar == "workday"
    assert sla.response_calendar_code == "24x7"
    assert sla.resolve == timedelta(hours=135)
    assert any(c.sla_class == "complex_workday" for c in demo.categories)
    workday = demo.calendar("workday")
    assert workday is not None
    assert workday.kind == "working_hours"
    assert workday.hours[0].start == time(8, 30)
    assert workday.hours[0].end == time(17, 30)
    assert date(2026, 10, 1) in workday.holidays
    assert date(2026, 2, 14) in workday.workdays  # a Saturday make-up day
    assert all(d.weekday() >= 5 for d in workday.workdays)


def test_sla_classes_follow_12345_limits(demo: Catalogue) -> None:
    resolve = {s.code: s.resolve for s in demo.sla_classes}
    assert resolve["emergency"] == timedelta(hours=2)
    assert resolve["utilities"] == timedelta(hours=24)
    assert resolve["general"] == timedelta(days=7)
    assert resolve["complex"] == timedelta(days=15)
    general = demo.sla_class("general")
    assert general is not None
    assert general.response == timedelta(hours=2)
    assert general.warn_at == (0.5, 0.75)
    assert [e.level for e in general.escalation] == ["remind", "supervise", "district"]


# --- lookups ---------------------------------------------------------------------------------


def test_lookups_find_by_code_and_return_none_when_unknown(demo: Catalogue) -> None:
    found = [
        demo.category("street_light_out"),
        demo.community("chaoyangli"),
        demo.department("gas"),
        demo.team("mediation"),
        demo.street("wanxing"),
        demo.calendar("24x7"),
        demo.sla_class("emergency"),
        demo.pairing("cyl-p001"),
    ]
    assert [f.code for f in found if f] == [
        "street_light_out",
        "chaoyangli",
        "gas",
        "mediation",
        "wanxing",
        "24x7",
        "emergency",
        "cyl-p001",
    ]
    lookups = (
        demo.category,
        demo.community,
        demo.department,
        demo.team,
        demo.street,
        demo.calendar,
        demo.sla_class,
        demo.pairing,
        demo.community_of_grid,
        demo.street_of_community,
    )
    assert all(lookup("nope") is None for lookup in lookups)


def test_place_lookups(demo: Catalogue) -> None:
    for community in ("jinrongjie", "yibinxili", "huazhangli"):
        street = demo.street_of_community(community)
        assert street is not None
        assert street.code == "wanxing"
    community = demo.community_of_grid("chaoyangli-g2")
    assert community is not None
    assert community.code == "chaoyangli"
    assert demo.district_of("wanxing").code == "nankai"
    assert demo.district_of("nanyingmen").code == "heping"


def test_responsible_departments_lead_first_and_fallbacks(demo: Catalogue) -> None:
    assert demo.responsible_departments("street_light_out", "wanxing") == ["urban_mgmt", "power"]
    assert demo.responsible_departments("tree_trimming", "wanxing") == ["landscaping"]
    assert demo.responsible_departments("tree_trimming", "nanyingmen") == ["urban_mgmt"]
    assert demo.responsible_departments("gas_smell", "nanyingmen") == ["gas"]
    assert demo.responsible_departments("other", "wanxing") == []
    with pytest.raises(KeyError):
        demo.responsible_departments("nope", "wanxing")
    with pytest.raises(KeyError):
        demo.responsible_departments("noise", "nope")


def test_teams_for_matches_skill_area_and_volunteer_ok(demo: Catalogue) -> None:
    codes = [t.code for t in demo.teams_for("empty_nest_care", "chaoyangli")]
    assert codes == ["veterans", "art_volunteers", "warm_home"]
    assert [t.code for t in demo.teams_for("neighbour_dispute", "chaoyangli")] == ["mediation"]
    assert demo.teams_for("empty_nest_care", "jinrongjie") == []  # no team serves it
    assert demo.teams_for("water_outage", "chaoyangli") == []  # not volunteer_ok
    with pytest.raises(KeyError):
        demo.teams_for("empty_nest_care", "nope")


def test_pairing_names_a_member_of_its_team(demo: Catalogue) -> None:
    for pairing in demo.pairings:
        team = demo.team(pairing.team)
        assert team is not None
        assert pairing.volunteer in {m.code for m in team.members}
        assert pairing.community in team.communities


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("P7D", timedelta(days=7)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT30M", timedelta(minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 24H ", timedelta(hours=24)),
    ],
)
def test_parse_duration_accepts_iso_and_shorthand(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "2", "P", "PT", "P1M", "P1Y", "2 hours", "h", 7200, None])
def test_parse_duration_rejects_everything_else(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


def test_durations_are_timedeltas_on_the_models(demo: Catalogue) -> None:
    gas = demo.category("gas_smell")
    assert gas is not None
    assert gas.duplicate_window == timedelta(hours=2)
    noise = demo.category("other")
    assert noise is not None
    assert noise.duplicate_window == timedelta(hours=24)  # the default
    assert noise.duplicate_radius_m == 150


# --- fingerprint and serialisation -----------------------------------------------------------


def test_fingerprint_is_stable_and_tracks_content(demo: Catalogue) -> None:
    again = load_catalogue(DEMO)
    assert len(demo.fingerprint) == 64
    assert again.fingerprint == demo.fingerprint
    assert parse_catalogue(demo.to_dict()).fingerprint == demo.fingerprint  # round trip
    changed = demo_data()
    changed["categories"][0]["duplicate_radius_m"] = 51
    assert parse_catalogue(changed).fingerprint != demo.fingerprint
    bumped = demo_data()
    bumped["version"] += 1
    assert parse_catalogue(bumped).fingerprint != demo.fingerprint


def test_public_dict_is_json_and_hides_personal_data(demo: Catalogue) -> None:
    public = demo.to_public_dict()
    text = json.dumps(public, ensure_ascii=False)
    assert "pairings" not in public
    assert all("members" not in t and "lead" not in t for t in public["teams"])
    assert all("email" not in d for d in public["departments"])
    assert "王建国" not in text
    assert public["sla_classes"][0]["resolve"] == "PT2H"


def test_catalogue_is_immutable(demo: Catalogue) -> None:
    with pytest.raises(pydantic.ValidationError):
        demo.version = 99  # type: ignore[misc]


# --- validation ------------------------------------------------------------------------------


def broken_demo() -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The demo with one of each kind of mistake, and where each must be reported."""
    data = demo_data()
    cats, slas, cals = data["categories"], data["sla_classes"], data["calendars"]
    light, trees = index_of(cats, "street_light_out"), index_of(cats, "tree_trimming")
    pothole, other = index_of(cats, "pothole"), index_of(cats, "other")
    general, complex_ = index_of(slas, "general"), index_of(slas, "complex")
    workday = index_of(cals, "workday")
    cats[light]["default_departments"][1] = "traffic_police"
    cats[trees]["owners"][0]["departments"][0] = "parks"
    cats[other]["code"] = "noise"
    slas[general]["resolve"] = "0h"
    cals[workday]["holidays"][3] = "2026-02-30"
    slas[complex_]["calendar"] = "weekends"
    cals[workday]["timezone"] = "Mars/Olympus_Mons"
    cats[pothole]["default_departments"] = []
    slas[general]["warn_at"] = [0.5, 1.2]
    return data, [
        (f"categories[{light}].default_departments[1]", "unknown department 'traffic_police'"),
        (f"categories[{trees}].owners[0].departments[0]", "unknown department 'parks'"),
        (f"categories[{other}].code", "duplicate code 'noise'"),
        (f"sla_classes[{general}].resolve", "greater than zero"),
        (f"calendars[{workday}].holidays[3]", "invalid date '2026-02-30'"),
        (f"sla_classes[{complex_}].calendar", "unknown calendar 'weekends'"),
        (f"calendars[{workday}].timezone", "unknown timezone 'Mars/Olympus_Mons'"),
        (f"categories[{pothole}]", "no owner anywhere for street 'wanxing'"),
        (f"categories[{pothole}]", "no owner anywhere for street 'nanyingmen'"),
        (f"sla_classes[{general}].warn_at[1]", "less than 1"),
    ]


def test_broken_catalogue_reports_every_problem_at_once() -> None:
    data, expected = broken_demo()
    problems = problems_of(data)
    for location, text in expected:
        assert has(problems, location, text), (location, text, problems)
    assert len(problems) == len(expected)


def test_broken_catalogue_file_reports_every_problem_at_once(tmp_path: Path) -> None:
    data, expected = broken_demo()
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    rendered = str(info.value).splitlines()
    assert len(rendered) == len(expected) + 1  # a header, then one problem per line
    for location, text in expected:
        assert has(info.value.problems, location, text)
        assert any(line.startswith(f"{location}: ") for line in rendered)


def test_unquoted_impossible_date_in_yaml_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace("- 2026-01-02\n", "- 2026-02-30\n", 1)
    path = tmp_path / "bad-date.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert [p.location for p in info.value.problems] == ["calendars[1].holidays[1]"]


def test_duplicate_yaml_key_and_bad_yaml_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("version: 1\nversion: 2\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="duplicate key 'version'"):
        load_catalogue(path)
    path.write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="invalid YAML"):
        load_catalogue(path)
    path.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="must be a mapping"):
        load_catalogue(path)


def test_reference_checks_cover_teams_pairings_and_served_streets() -> None:
    data = demo_data()
    cats, teams, pairs = data["categories"], data["teams"], data["pairings"]
    trees = index_of(cats, "tree_trimming")
    cats[trees]["owners"][1]["departments"] = ["landscaping"]  # serves wanxing only
    cats[index_of(cats, "neighbour_dispute")]["skills"] = ["karaoke"]
    teams[0]["lead"] = "nobody"
    teams[1]["communities"] = ["atlantis"]
    pairs[0]["volunteer"] = "vet-wang"  # a veteran, not an art volunteer
    pairs[1]["community"] = "jinrongjie"  # the veterans do not serve it
    data["communities"][0]["grids"][1]["code"] = data["communities"][1]["grids"][0]["code"]
    problems = problems_of(data)
    dispute = index_of(cats, "neighbour_dispute")
    for location, text in [
        (f"categories[{trees}].owners[1].departments[0]", "does not serve street 'nanyingmen'"),
        (f"categories[{dispute}].skills[0]", "no team offers skill 'karaoke'"),
        ("teams[0].lead", "unknown member of this team 'nobody'"),
        ("teams[1].communities[0]", "unknown community 'atlantis'"),
        ("pairings[0].volunteer", "unknown member of team 'art_volunteers' 'vet-wang'"),
        ("pairings[1].team", "does not serve community 'jinrongjie'"),
        ("communities[1].grids[0].code", "duplicate code 'yibinxili-g1'"),
    ]:
        assert has(problems, location, text), (location, text, problems)


def test_default_department_must_serve_streets_without_owners_entry() -> None:
    data = demo_data()
    pothole = index_of(data["categories"], "pothole")
    data["categories"][pothole]["default_departments"] = ["landscaping"]
    problems = problems_of(data)
    assert has(
        problems,
        f"categories[{pothole}].default_departments[0]",
        "does not serve street 'nanyingmen', which has no owners entry",
    )
    assert len(problems) == 1


def test_structural_rules_on_calendars_sla_and_attributes() -> None:
    data = demo_data()
    cals, slas, cats = data["calendars"], data["sla_classes"], data["categories"]
    cals[0]["hours"] = [{"days": ["mon"], "start": "09:00", "end": "17:00"}]  # on "always"
    cals[1]["workdays"].append("2026-03-02")  # a Monday: already a working day
    cals[1]["hours"][0]["end"] = 1050  # what YAML makes of an unquoted 17:30
    slas[0]["escalation"].reverse()
    cats[0]["attributes"][0]["values"] = [{"key": "a", "name": "A"}]  # values on a string
    data["extra_key"] = True
    problems = problems_of(data)
    for location, text in [
        ("calendars[0]", "takes no hours"),
        ("calendars[1].hours[0].end", "quoted 'HH:MM'"),
        ("sla_classes[0]", "escalation must be ordered"),
        ("categories[0].attributes[0]", "values are required for list datatypes"),
        ("extra_key", "Extra inputs are not permitted"),
    ]:
        assert has(problems, location, text), (location, text, problems)
    data["calendars"][1]["hours"][0]["end"] = "17:30"
    assert has(problems_of(data), "calendars[1]", "workdays already working days: 2026-03-02")


def test_missing_sections_are_reported_with_their_names() -> None:
    problems = problems_of({"version": 0, "name": "x"})
    locations = {p.location for p in problems}
    assert {"version", "timezone", "district", "calendars", "categories"} <= locations
    bad_item = problems_of({**demo_data(), "calendars": [{"code": "x"}]})
    assert [p.location for p in bad_item if p.location.startswith("calendars")] == [
        "calendars[0].name",
        "calendars[0].kind",
    ]  # no extra "calendars: too short" for the rejected item
    assert problems_of([]) == [CatalogueProblem("(root)", "the catalogue must be a mapping")]
