"""Notify's pure rules: projection order, audiences, URL guard, signatures, retry policy, scopes, templates."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.audience import audience_for
from services.notify.delivery import RetryPolicy
from services.notify.projection import CaseState, apply
from services.notify.signing import sign, verify
from services.notify.subscriptions.rules import Scope, ScopeError, check_event_types, check_scope, wants_type
from services.notify.supply import supply_vs_demand
from services.notify.templates import render
from services.notify.urlguard import UnsafeUrl, check_url
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.events import Assignee
from shared.events.intake import NeedSubmitted
from shared.events.routing import CaseRouted
from shared.events.sla import DeadlineArmed, DeadlineBreached, DeadlineStopped, DeadlineWarning

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
URBAN = Assignee(kind="department", code="urban_mgmt")
HOUSING = Assignee(kind="department", code="housing")


def _routed(to: Assignee, at: datetime, previous: list[Assignee] | None = None) -> CaseRouted:
    return CaseRouted(
        case_id="c1",
        category="street_light_out",
        description="d",
        community="jinrongjie",
        street="wanxing",
        assignee=to,
        co_handlers=[Assignee(kind="department", code="power")],
        previous_assignees=previous or [],
        submitted_at=T0,
        routed_at=at,
    )


def test_late_events_never_move_state_backwards() -> None:
    s = CaseState(case_id="c1")
    s = apply(s, _routed(HOUSING, T0 + timedelta(minutes=10), previous=[URBAN]), event_time=T0)
    s = apply(s, _routed(URBAN, T0 + timedelta(minutes=1)), event_time=T0)  # the older routing, late
    assert s.assignee == HOUSING
    assert s.status == "routed"
    due = T0 + timedelta(hours=2)
    s = apply(s, DeadlineArmed(case_id="c1", kind="response", started_at=T0, due_at=due), event_time=T0)
    s = apply(s, DeadlineBreached(case_id="c1", kind="response", due_at=due, breached_at=due), event_time=due)
    late_warning = DeadlineWarning(case_id="c1", kind="response", fraction=0.5, due_at=due, at=T0 + timedelta(hours=1))
    s = apply(s, late_warning, event_time=T0)
    assert s.sla_state == "breached"
    stopped = DeadlineStopped(case_id="c1", kind="response", met=False, due_at=due, stopped_at=due + timedelta(hours=1))
    s = apply(s, stopped, event_time=T0)
    assert s.sla_state == "none"
    assert s.deadlines["response"]["state"] == "missed"
    need = NeedSubmitted(
        case_id="c1",
        category="street_light_out",
        description="d",
        community="jinrongjie",
        street="wanxing",
        submitted_at=T0,
    )
    s = apply(s, need, event_time=T0)  # the first event, delivered last
    assert s.status == "routed"


def test_audience_includes_co_handlers_and_the_owner_losing_the_case() -> None:
    before = apply(CaseState(case_id="c1"), _routed(URBAN, T0), event_time=T0)
    event = _routed(HOUSING, T0 + timedelta(minutes=5), previous=[URBAN])
    after = apply(before, event, event_time=T0)
    audience = audience_for(before=before, after=after, payload=event, submission_ids=["s9"])
    assert audience.departments == ("housing", "power", "urban_mgmt")
    assert audience.topics() == ["street.wanxing", "dept.housing", "dept.power", "dept.urban_mgmt"]
    assert audience.visible_to(Principal(role="resident", case_id="s9"))  # a linked duplicate's reporter
    assert not audience.visible_to(Principal(role="department", scope="water"))
    assert not audience.visible_to(Principal(role="street_office", scope="nanyingmen"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.org/",
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://metadata.google.internal/",
        "http://0x7f000001/",
        "http://user:pw@example.org/",
        "http://127.0.0.1/",
        "http://localhost:8080/",
        "http://10.1.2.3:8080/hook",  # private ranges too: a department's system is reached on a public address
    ],
)
def test_unsafe_urls(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_loopback=False)


def test_safe_urls() -> None:
    assert check_url("https://dept.example.org/hooks/lastmeter", allow_loopback=False) == "dept.example.org"
    assert check_url("http://93.184.216.34:8080/hook", allow_loopback=False) == "93.184.216.34"
    assert check_url("http://127.0.0.1:9000/hook", allow_loopback=True) == "127.0.0.1"


def test_signature_round_trip_and_replay_window() -> None:
    body = b'{"id":"e1"}'
    header = sign("secret", 1_700_000_000, body)
    assert header.startswith("sha256=")
    assert len(header) == 7 + 64
    assert verify("secret", signature=header, timestamp="1700000000", body=body, now=1_700_000_100)
    assert not verify("secret", signature=header, timestamp="1700000000", body=body + b" ", now=1_700_000_100)
    assert not verify("secret", signature=header, timestamp="1700000000", body=body, now=1_700_001_000)


def test_retry_backoff_grows_with_jitter_and_stops_after_the_window() -> None:
    policy = RetryPolicy(base=2, maximum=3600, window=24 * 3600)
    rng = random.Random(1)
    delays = [(policy.next_attempt(attempt=n, retry_from=T0, now=T0, rng=rng) - T0).total_seconds() for n in (1, 5, 20)]
    assert 1 <= delays[0] <= 2
    assert 16 <= delays[1] <= 32
    assert 1800 <= delays[2] <= 3600
    assert policy.next_attempt(attempt=3, retry_from=T0, now=T0 + timedelta(hours=24), rng=rng) is None


def test_scopes() -> None:
    street = Principal(role="street_office", scope="wanxing")
    assert check_scope(street, Scope("street", "wanxing")) == Scope("street", "wanxing")
    for wanted in (Scope("street", "nanyingmen"), Scope("all"), Scope("department", "water")):
        with pytest.raises(ScopeError):
            check_scope(street, wanted)
    dept = Principal(role="department", scope="water")
    with pytest.raises(ScopeError):
        check_scope(dept, Scope("department", "power"))
    assert check_scope(Principal(role="admin"), Scope("all")) == Scope("all")


def test_event_type_filters() -> None:
    assert check_event_types(["lastmeter.sla.*", "lastmeter.case.routed"]) == [
        "lastmeter.sla.*",
        "lastmeter.case.routed",
    ]
    with pytest.raises(ValueError, match="known types"):
        check_event_types(["lastmeter.case.exploded"])
    assert wants_type(["lastmeter.sla.*"], "lastmeter.sla.warning")
    assert not wants_type(["lastmeter.sla.*"], "lastmeter.case.routed")
    assert wants_type([], "anything")


def test_templates_in_both_languages(catalogue: Catalogue) -> None:
    data = {
        "assignee": {"kind": "department", "code": "urban_mgmt"},
        "kind": "response",
        "fraction": 0.75,
        "due_at": "2026-03-02T03:00:00+00:00",
    }
    zh = render("lastmeter.sla.warning", data, case_id="c1", language="zh", catalogue=catalogue)
    en = render("lastmeter.sla.warning", data, case_id="c1", language="en", catalogue=catalogue)
    assert "时限预警（签收）" in zh.subject
    assert "75%" in zh.subject
    assert "Deadline warning (sign-for): 75% used" in en.subject
    routed = render("lastmeter.case.routed", data, case_id="c1", language="zh", catalogue=catalogue)
    assert "城市管理委员会" in routed.subject
    assert render("lastmeter.unknown", {}, case_id="c1", language="en").body.startswith("Your case was updated")


def test_supply_against_demand(catalogue: Catalogue) -> None:
    view = supply_vs_demand(catalogue, street="nanyingmen", open_by_category={"neighbour_dispute": 9})
    mediation = next(s for s in view["skills"] if s["skill"] == "mediation")
    assert mediation == {
        "skill": "mediation",
        "capacity": 6,
        "teams": ["mediation"],
        "members": 2,
        "demand": 9,
        "gap": 3,
    }
    assert view["skills"][0]["skill"] == "mediation"  # the biggest gap first
    assert supply_vs_demand(catalogue, street="wanxing", open_by_category={})["skills"][0]["capacity"] == 0
