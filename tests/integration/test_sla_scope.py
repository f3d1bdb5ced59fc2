"""Who may read a case's deadlines: its owners as sla learnt them from `case routed`, no one else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.events import Assignee
from tests.helpers import bearer
from tests.integration.test_sla_support import POWER, URBAN, SlaHarness, count, harness, routed

TEAM = Assignee(kind="team", code="corridor_cleanup")


@pytest.fixture
async def sla(
    make_settings: Any, keys: dict[str, Any], kafka_bootstrap: str, database_url: str, prefix: str
) -> AsyncIterator[SlaHarness]:
    async with harness(make_settings, kafka_bootstrap, database_url, prefix) as h:
        yield h


async def test_deadlines_open_to_the_cases_owners_only(sla: SlaHarness, keys: dict[str, Any]) -> None:
    async with sla.running() as client:
        await sla.publish(
            routed("own-1", assignee=URBAN, co_handlers=[POWER]),
            routed("own-2", assignee=TEAM, community="chaoyangli", street="nanyingmen"),
        )
        await sla.events("own-1", until=count("deadline_armed", 3))
        await sla.events("own-2", until=count("deadline_armed", 3))

        async def status(case_id: str, key: str) -> int:
            return (await client.get(f"/v1/cases/{case_id}/deadlines", headers=bearer(key))).status_code

        departments, teams, streets = keys["departments"], keys["teams"], keys["street_offices"]
        # The assignee, a co-handling department, the case's street office and admin read them.
        for key in (keys["admin"], streets["wanxing"], departments["urban_mgmt"], departments["power"]):
            assert await status("own-1", key) == 200
        for key in (keys["admin"], streets["nanyingmen"], teams["corridor_cleanup"]):
            assert await status("own-2", key) == 200
        # Everyone else is refused (before this fix: 200 with an empty list, or with old attempts).
        for key in (departments["education"], teams["corridor_cleanup"], streets["nanyingmen"]):
            assert await status("own-1", key) == 403
        for key in (
            departments["urban_mgmt"],
            teams["veterans"],
            streets["wanxing"],
            keys["grid_workers"]["wanxing"],
        ):
            assert await status("own-2", key) == 403
        assert await status("no-such-case", keys["admin"]) == 404
        assert (await client.get("/v1/cases/own-1/deadlines")).status_code == 401
        # The street office's clock commands follow the same rule.
        assert (await client.post("/v1/cases/own-2/pause", headers=bearer(streets["wanxing"]))).status_code == 403
        assert (await client.post("/v1/cases/own-1/pause", headers=bearer(streets["wanxing"]))).status_code == 409
