"""Open311's use cases: create a service request, list and read requests, find the request behind a token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.intake import store
from services.intake.need import Need
from services.intake.service_layer import Deps, IntakeUow, Outcome, accept_one


async def create_request(uow: IntakeUow, *, deps: Deps, need: Need) -> Outcome:
    """Accept one need from a 311 app (no access token: there is no one to hand it to), in one transaction."""
    async with uow.begin() as tx:
        return await accept_one(tx.conn, deps=deps, need=need)


async def list_requests(
    uow: IntakeUow,
    *,
    case_ids: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: Sequence[str] | None = None,
    limit: int,
    offset: int,
) -> list[store.Record]:
    """Cases newest first; ids, when given, override every other filter."""
    async with uow.begin() as tx:
        return await store.list_cases(
            tx.conn,
            case_ids=case_ids,
            categories=categories,
            start=start,
            end=end,
            statuses=statuses,
            limit=limit,
            offset=offset,
        )


async def read_request(uow: IntakeUow, *, case_id: str) -> store.Record | None:
    """One case, or None."""
    async with uow.begin() as tx:
        return await store.get_case(tx.conn, case_id=case_id)


async def request_of_token(uow: IntakeUow, *, token: str) -> str | None:
    """The case id of the submission a POST requests answered with `token`, or None."""
    async with uow.begin() as tx:
        found = await store.get_submission(tx.conn, submission_id=token)
    return None if found is None else str(found["case_id"])
