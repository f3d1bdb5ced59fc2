"""The routing decision over the demo catalogue: who is chosen, in which order, and the reasons given."""

from __future__ import annotations

import pytest

from services.routing.cases.rules import Decision, NeedFacts, UnknownPlace, decide, rank, sla_class_for
from shared.catalogue import Catalogue
from shared.events import Assignee


def dept(code: str) -> Assignee:
    return Assignee(kind="department", code=code)


def team(code: str) -> Assignee:
    return Assignee(kind="team", code=code)


def street(code: str) -> Assignee:
    return Assignee(kind="street_office", code=code)


def need(category: str | None, community: str = "jinrongjie", **kw: object) -> NeedFacts:
    streets = {"jinrongjie": "wanxing", "yibinxili": "wanxing", "huazhangli": "wanxing", "chaoyangli": "nanyingmen"}
    return NeedFacts(category=category, community=community, street=streets.get(community, "wanxing"), **kw)  # type: ignore[arg-type]


def said(decision: Decision, *fragments: str) -> bool:
    text = " | ".join(decision.reasons)
    return all(f in text for f in fragments)


def test_lead_department_with_co_handlers(catalogue: Catalogue) -> None:
    d = decide(need("street_light_out"), catalogue)
    assert d.assignee == dept("urban_mgmt")
    assert d.co_handlers == (dept("power"),)
    assert d.rule == "department"
    assert said(d, "department urban_mgmt is responsible for street_light_out in wanxing (by default)")
    assert said(d, "urban_mgmt leads (首接负责); co-handlers: power")


@pytest.mark.parametrize(("community", "expected"), [("jinrongjie", "landscaping"), ("chaoyangli", "urban_mgmt")])
def test_owner_per_street(catalogue: Catalogue, community: str, expected: str) -> None:
    d = decide(need("tree_trimming", community), catalogue)
    assert d.assignee == dept(expected)
    assert d.co_handlers == ()
    assert said(d, f"department {expected} is responsible for tree_trimming", "(per its owners entry)")


def test_volunteer_category_goes_to_the_team_with_most_spare_capacity(catalogue: Catalogue) -> None:
    # corridor_clutter needs `cleanup`: veterans (capacity 15) and corridor_cleanup (8) serve Chaoyangli.
    d = decide(need("corridor_clutter", "chaoyangli"), catalogue)
    assert d.assignee == team("veterans")
    assert d.rule == "team"
    assert said(d, "volunteer team veterans has the skill (cleanup)", "serves chaoyangli", "(15 of 15)")
    loaded = decide(need("corridor_clutter", "chaoyangli"), catalogue, loads={"veterans": 10})
    assert loaded.assignee == team("corridor_cleanup")  # 8 spare beats 5 spare
    assert said(loaded, "(8 of 8)")


def test_full_team_is_passed_over_with_a_reason(catalogue: Catalogue) -> None:
    d = decide(need("corridor_clutter", "chaoyangli"), catalogue, loads={"veterans": 15})
    assert d.assignee == team("corridor_cleanup")
    assert said(d, "team veterans is at capacity (15/15)")


def test_all_teams_full_falls_to_the_department(catalogue: Catalogue) -> None:
    d = decide(need("corridor_clutter", "chaoyangli"), catalogue, loads={"veterans": 15, "corridor_cleanup": 9})
    assert d.assignee == dept("housing")
    assert said(d, "team veterans is at capacity", "team corridor_cleanup is at capacity (9/8)")
    assert said(d, "department housing is responsible for corridor_clutter in nanyingmen")


def test_no_team_in_the_area_goes_to_the_department(catalogue: Catalogue) -> None:
    d = decide(need("corridor_clutter", "jinrongjie"), catalogue)
    assert d.assignee == dept("housing")
    assert said(d, "no volunteer team with a cleanup skill serves jinrongjie")


def test_paired_volunteer_first_for_a_paired_resident(catalogue: Catalogue) -> None:
    # Without the pairing the veterans (most spare, has `errands`) would win.
    assert decide(need("empty_nest_care", "chaoyangli"), catalogue).assignee == team("veterans")
    d = decide(need("empty_nest_care", "chaoyangli", vulnerable=True, pairing_id="cyl-p001"), catalogue)
    assert d.assignee == team("art_volunteers")
    assert d.member == "art-yang"
    assert d.rule == "paired"
    assert said(d, "paired resident (结对 cyl-p001)", "art-yang", "team art_volunteers goes first")


def test_paired_team_without_the_skill_is_skipped(catalogue: Catalogue) -> None:
    d = decide(need("neighbour_dispute", "chaoyangli", pairing_id="cyl-p001"), catalogue)
    assert d.assignee == team("mediation")
    assert d.member is None
    assert said(d, "paired team art_volunteers has no mediation skill")


def test_paired_team_at_capacity_is_skipped(catalogue: Catalogue) -> None:
    d = decide(need("empty_nest_care", "chaoyangli", pairing_id="cyl-p001"), catalogue, loads={"art_volunteers": 10})
    assert d.assignee == team("veterans")
    assert said(d, "paired team art_volunteers is at capacity (10/10)")


def test_unknown_pairing_is_noted(catalogue: Catalogue) -> None:
    d = decide(need("empty_nest_care", "chaoyangli", pairing_id="nope"), catalogue)
    assert d.assignee == team("veterans")
    assert said(d, "pairing 'nope' is not in the catalogue")


def test_pairing_does_not_matter_for_a_department_category(catalogue: Catalogue) -> None:
    d = decide(need("water_outage", "chaoyangli", pairing_id="cyl-p001"), catalogue)
    assert d.assignee == dept("water")


def test_decliners_are_never_chosen_again(catalogue: Catalogue) -> None:
    d = decide(need("street_light_out"), catalogue, exclude=[dept("urban_mgmt")])
    assert d.assignee == dept("power")
    assert d.co_handlers == ()
    assert said(d, "department urban_mgmt declined before", "department power is responsible")
    last = decide(need("street_light_out"), catalogue, exclude=[dept("urban_mgmt"), dept("power")])
    assert last.assignee == street("wanxing")
    assert last.rule == "street_fallback"
    assert said(last, "department power declined before", "no owner left: the street office takes it (兜底)")


def test_declined_team_is_skipped(catalogue: Catalogue) -> None:
    d = decide(need("corridor_clutter", "chaoyangli"), catalogue, exclude=[team("veterans")])
    assert d.assignee == team("corridor_cleanup")
    assert said(d, "team veterans declined before")


def test_no_decliner_is_ever_chosen_for_any_need(catalogue: Catalogue) -> None:
    for category in catalogue.categories:
        for community in catalogue.communities:
            facts = NeedFacts(category=category.code, community=community.code, street=community.street)
            excluded: list[Assignee] = []
            while True:
                d = decide(facts, catalogue, exclude=excluded)
                assert d.assignee not in excluded
                assert not set(d.co_handlers) & set(excluded)
                if d.assignee.kind == "street_office":
                    break
                excluded.append(d.assignee)
            assert len(excluded) <= len(catalogue.departments) + len(catalogue.teams)


def test_no_category_goes_to_street_office_triage(catalogue: Catalogue) -> None:
    d = decide(need(None, "chaoyangli"), catalogue)
    assert d.assignee == street("nanyingmen")
    assert d.rule == "triage"
    assert said(d, "no category: the street office triages it")


def test_unknown_category_goes_to_triage(catalogue: Catalogue) -> None:
    d = decide(need("unicorns"), catalogue)
    assert d.assignee == street("wanxing")
    assert d.rule == "triage"
    assert said(d, "category 'unicorns' is not in catalogue v1")


def test_street_fallback_category(catalogue: Catalogue) -> None:
    d = decide(need("other"), catalogue)
    assert d.assignee == street("wanxing")
    assert said(d, "category other is handled by the street office itself (兜底)")


def test_unknown_street_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownPlace):
        decide(NeedFacts(category="pothole", community="x", street="atlantis"), catalogue)


def test_unknown_community_skips_teams(catalogue: Catalogue) -> None:
    d = decide(NeedFacts(category="corridor_clutter", community="nowhere", street="nanyingmen"), catalogue)
    assert d.assignee == dept("housing")
    assert said(d, "community 'nowhere' is not in the catalogue")


def test_rank_always_ends_with_the_street_office(catalogue: Catalogue) -> None:
    ranked = rank(need("corridor_clutter", "chaoyangli", pairing_id="cyl-p002"), catalogue)
    assert [c.assignee for c in ranked] == [
        team("veterans"),  # paired (vet-zhao), has cleanup
        team("corridor_cleanup"),
        dept("housing"),
        street("nanyingmen"),
    ]
    assert ranked[0].rule == "paired"
    assert ranked[0].member == "vet-zhao"


def test_sla_class_follows_category_and_emergency_priority(catalogue: Catalogue) -> None:
    assert sla_class_for("pothole", "normal", catalogue) == "general"
    assert sla_class_for("pothole", "emergency", catalogue) == "emergency"
    assert sla_class_for(None, "normal", catalogue) is None
