"""The three rates on a scripted scenario match hand-computed values; scoping and bad queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.events.intake import FeedbackReceived
from shared.events.routing import CaseClosed, CaseDeclined, CaseResolved, CaseSigned
from shared.topics import INTAKE_EVENTS
from tests.helpers import bearer
from tests.integration.test_sla_support import POWER, T0, URBAN, H, SlaHarness, harness, routed

DAY = {"period": "day", "from": "2026-03-02", "to": "2026-03-02"}


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


def _closed(case_id: str, assignee: Any, solved: bool) -> list[Any]:
    return [
        CaseResolved(case_id=case_id, assignee=assignee, note="处理完毕", resolved_at=T0 + 3 * H),
        CaseClosed(case_id=case_id, assignee=assignee, solved=solved, closed_at=T0 + 5 * H),
    ]


def _feedback(case_id: str, satisfaction: str, solved: bool) -> FeedbackReceived:
    return FeedbackReceived(
        case_id=case_id,
        round=1,
        solved=solved,
        satisfaction=satisfaction,  # type: ignore[arg-type]  # tests pass the Literal's values as str
        reopen=False,
        received_at=T0 + 6 * H,
    )


async def _script(sla: SlaHarness) -> None:
    """Five cases (all on Monday 2 March 2026, Tianjin time) with outcomes chosen to be counted by hand."""
    routing = [
        # c1: urban management signs in time, solved, satisfied.
        routed("c1"),
        CaseSigned(case_id="c1", assignee=URBAN, signed_at=T0 + H),
        *_closed("c1", URBAN, True),
        # c2: urban management signs late (3h > 2h), not solved, dissatisfied.
        routed("c2"),
        CaseSigned(case_id="c2", assignee=URBAN, signed_at=T0 + 3 * H),
        *_closed("c2", URBAN, False),
        # c3: urban management declines; the power company signs in time, solved, basically satisfied.
        routed("c3"),
        CaseDeclined(
            case_id="c3", assignee=URBAN, reason_code="overlapping_duties", decline_count=1, declined_at=T0 + H / 12
        ),
        routed("c3", at=T0 + H / 6, attempt=2, assignee=POWER),
        CaseSigned(case_id="c3", assignee=POWER, attempt=2, signed_at=T0 + H / 3),
        *_closed("c3", POWER, True),
        # c4: a water outage in another community, never signed.
        routed("c4", assignee=POWER, category="water_outage", community="yibinxili"),
        # c5: urban management in the other street office, signed in time.
        routed("c5", street="nanyingmen", community="chaoyangli"),
        CaseSigned(case_id="c5", assignee=URBAN, signed_at=T0 + H / 2),
    ]
    await sla.publish(*routing)
    await sla.processed(len(routing))  # feedback comes much later in life; here it must not overtake
    feedback = [_feedback("c1", "satisfied", True), _feedback("c2", "dissatisfied", False)]
    feedback.append(_feedback("c3", "basically_satisfied", True))
    await sla.publish(*feedback, topic=INTAKE_EVENTS)
    await sla.processed(len(routing) + len(feedback))


def _table(body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        r["value"]: (
            r["dispatched"],
            r["signed_in_time"],
            r["response_rate"],
            r["closed"],
            r["solved"],
            r["resolution_rate"],
            r["rated"],
            r["satisfied"],
            r["satisfaction_rate"],
        )
        for r in body["rows"]
    }


async def test_three_rates_match_hand_computed_values(sla: SlaHarness, keys: dict[str, Any]) -> None:
    admin = bearer(keys["admin"])
    async with sla.running() as client:
        await _script(sla)

        async def rates(headers: dict[str, Any], **params: str) -> dict[str, Any]:
            resp = await client.get("/v1/rates", params=params, headers=headers)
            assert resp.status_code == 200, resp.text
            return resp.json()

        # Per department: dispatched counts every routing attempt; a decline is a dispatch not signed.
        assert _table(await rates(admin, dimension="department", **DAY)) == {
            "urban_mgmt": (4, 2, 0.5, 2, 1, 0.5, 2, 1, 0.5),
            "power": (2, 1, 0.5, 1, 1, 1.0, 1, 1, 1.0),
        }
        assert _table(await rates(admin, dimension="street", **DAY)) == {
            "wanxing": (5, 2, 0.4, 3, 2, 0.6667, 3, 2, 0.6667),
            "nanyingmen": (1, 1, 1.0, 0, 0, None, 0, 0, None),
        }
        assert _table(await rates(admin, dimension="category", **DAY)) == {
            "street_light_out": (5, 3, 0.6, 3, 2, 0.6667, 3, 2, 0.6667),
            "water_outage": (1, 0, 0.0, 0, 0, None, 0, 0, None),
        }
        assert _table(await rates(admin, dimension="community", **DAY)) == {
            "jinrongjie": (4, 2, 0.5, 3, 2, 0.6667, 3, 2, 0.6667),
            "yibinxili": (1, 0, 0.0, 0, 0, None, 0, 0, None),
            "chaoyangli": (1, 1, 1.0, 0, 0, None, 0, 0, None),
        }
        # Weeks start on Monday, months on the 1st; the same day lands in both.
        week = await rates(admin, dimension="street", period="week", **{"from": "2026-03-01", "to": "2026-03-08"})
        assert {(r["value"], r["bucket"], r["dispatched"]) for r in week["rows"]} == {
            ("wanxing", "2026-03-02", 5),
            ("nanyingmen", "2026-03-02", 1),
        }
        month = await rates(admin, dimension="street", period="month", **{"from": "2026-03-01", "to": "2026-03-31"})
        assert {(r["value"], r["bucket"], r["dispatched"]) for r in month["rows"]} == {
            ("wanxing", "2026-03-01", 5),
            ("nanyingmen", "2026-03-01", 1),
        }
        # Totals over the range equal the one bucket here.
        assert {t["value"]: t["dispatched"] for t in month["totals"]} == {"wanxing": 5, "nanyingmen": 1}

        # Scoping: a street office sees its own street's share; a department only its own row.
        street = bearer(keys["street_offices"]["wanxing"])
        assert _table(await rates(street, dimension="department", **DAY)) == {
            "urban_mgmt": (3, 1, 0.3333, 2, 1, 0.5, 2, 1, 0.5),
            "power": (2, 1, 0.5, 1, 1, 1.0, 1, 1, 1.0),
        }
        assert set(_table(await rates(street, dimension="street", **DAY))) == {"wanxing"}
        urban = bearer(keys["departments"]["urban_mgmt"])
        assert _table(await rates(urban, dimension="department", **DAY)) == {
            "urban_mgmt": (4, 2, 0.5, 2, 1, 0.5, 2, 1, 0.5)
        }
        assert (await client.get("/v1/rates", params={"dimension": "street"}, headers=urban)).status_code == 403

        # Bad queries name the field.
        bad = await client.get("/v1/rates", params={"dimension": "planet"}, headers=admin)
        assert bad.status_code == 422
        assert bad.json()["fields"][0]["field"] == "dimension"
        assert "department" in bad.json()["message"]
        inverted = await client.get(
            "/v1/rates", params={"dimension": "street", "from": "2026-03-05", "to": "2026-03-01"}, headers=admin
        )
        assert inverted.status_code == 422
        assert inverted.json()["fields"][0]["field"] == "from"
        for params in ({"dimension": "street", "from": "2026-02-30"}, {"dimension": "street", "period": "year"}):
            resp = await client.get("/v1/rates", params=params, headers=admin)
            assert resp.status_code == 422, params
            assert resp.json()["fields"][0]["field"] in {"from", "period"}
        assert (await client.get("/v1/rates", params={"dimension": "street"})).status_code == 401
