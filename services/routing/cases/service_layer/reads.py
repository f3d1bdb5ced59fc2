"""What the API reads: work lists and one case with its history, and who may read which case."""

from __future__ import annotations

from collections.abc import Sequence

from services.routing.cases import store
from services.routing.cases.store import Case, History
from services.routing.runtime import RoutingUoW
from shared.auth import Principal
from shared.errors import Forbidden, NotFound
from shared.events import Assignee
from shared.scope import CaseOwners, may_read


def owners(case: Case) -> CaseOwners:
    """Who the case belongs to, for the shared scope check."""
    return CaseOwners(
        case_id=case.case_id, street=case.street, assignee=case.assignee, co_handlers=tuple(case.co_handlers)
    )


def can_read(principal: Principal, case: Case) -> bool:
    """Admin, the case's street office and grid workers, its assignee and co-handling departments.

    Residents follow their case through intake, which keeps what they may see.
    """
    return may_read(principal, owners(case), residents=False)


async def work_list(
    uow: RoutingUoW,
    *,
    street: str | None = None,
    assignee: Assignee | None = None,
    statuses: Sequence[str] = (),
    category_missing: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Case]:
    """Cases matching every filter given, most recently changed first."""
    async with uow.begin() as t:
        return await store.list_cases(
            t.conn,
            street=street,
            assignee=assignee,
            statuses=statuses,
            category_missing=category_missing,
            limit=limit,
            offset=offset,
        )


async def case_history(uow: RoutingUoW, *, case_id: str) -> tuple[Case, History]:
    """A case the caller just acted on, with its history."""
    async with uow.begin() as t:
        case = await store.get_case(t.conn, case_id=case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        return case, await store.history(t.conn, case_id=case_id)


async def read_case(uow: RoutingUoW, *, principal: Principal, case_id: str) -> tuple[Case, History]:
    """A case the caller may read, with its history (404 for an unknown case, 403 for someone else's)."""
    async with uow.begin() as t:
        case = await store.get_case(t.conn, case_id=case_id)
        if case is None or case.status == "new":
            raise NotFound(f"no case {case_id}")
        if not can_read(principal, case):
            raise Forbidden("this key may not read that case")
        return case, await store.history(t.conn, case_id=case_id)
