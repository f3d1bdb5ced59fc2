"""Group commit's gathering and failure rules, with the database write replaced (pure logic only;
the real write is exercised against PostgreSQL in tests/integration/test_intake_needs.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.intake.need import Need
from services.intake.needs.group_commit import SubmissionGroups, _Waiting
from services.intake.service_layer import Outcome


class RecordingGroups(SubmissionGroups):
    """Writes nothing: records each group's size and fails as told."""

    def __init__(self, *, fail: type[Exception] | None = None, **kwargs: Any) -> None:
        super().__init__(uow=lambda: None, deps=lambda: None, **kwargs)  # type: ignore[arg-type, return-value]
        self.groups: list[list[str]] = []
        self.fail = fail

    async def _write(self, group: list[_Waiting]) -> list[Outcome]:
        self.groups.append([w.need.description for w in group])
        await asyncio.sleep(0.01)  # the commit takes a while; requests meanwhile form the next group
        if self.fail is not None:
            raise self.fail("database went away")
        if any(w.need.description == "bad" for w in group):
            raise ValueError("a need the database refuses")
        return [Outcome(w.need.description, "s", False, "submitted", None, None) for w in group]


def _need(text: str) -> Need:
    return Need(description=text, community="jinrongjie", street="wanxing")


async def test_a_lone_request_goes_straight_through() -> None:
    groups = RecordingGroups()
    outcome = await groups.submit(_need("one"))
    assert outcome.case_id == "one"
    assert groups.groups == [["one"]]


async def test_requests_arriving_together_share_one_write_and_each_gets_its_own_answer() -> None:
    groups = RecordingGroups(max_inflight=1)
    outcomes = await asyncio.gather(*(groups.submit(_need(f"n{i}")) for i in range(10)))
    assert [o.case_id for o in outcomes] == [f"n{i}" for i in range(10)]
    assert groups.groups == [[f"n{i}" for i in range(10)]]


async def test_groups_are_capped_and_later_arrivals_wait_for_the_next_write() -> None:
    groups = RecordingGroups(max_group=4, max_inflight=1)
    await asyncio.gather(*(groups.submit(_need(f"n{i}")) for i in range(10)))
    assert [len(g) for g in groups.groups] == [4, 4, 2]


async def test_one_bad_need_fails_alone_and_its_neighbours_are_written_one_by_one() -> None:
    groups = RecordingGroups(max_inflight=1)
    texts = ["a", "b", "bad", "c"]
    results = await asyncio.gather(*(groups.submit(_need(t)) for t in texts), return_exceptions=True)
    assert [r.case_id if isinstance(r, Outcome) else type(r) for r in results] == ["a", "b", ValueError, "c"]
    assert groups.groups == [texts, ["a"], ["b"], ["bad"], ["c"]]


async def test_a_transient_failure_answers_the_whole_group_without_retrying_each() -> None:
    groups = RecordingGroups(fail=ConnectionRefusedError, max_inflight=1)
    results = await asyncio.gather(*(groups.submit(_need(t)) for t in "abc"), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert groups.groups == [["a", "b", "c"]]


async def test_a_client_that_went_away_does_not_break_the_others() -> None:
    groups = RecordingGroups(max_inflight=1)
    gone = asyncio.create_task(groups.submit(_need("gone")))
    stays = asyncio.create_task(groups.submit(_need("stays")))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await stays).case_id == "stays"
    with pytest.raises(asyncio.CancelledError):
        await gone
