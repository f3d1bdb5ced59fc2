"""One rule for a caller and a case: 404 when the service does not know the case, 403 when it is out of scope."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Principal
from shared.events import Assignee
from shared.http import ApiError


@dataclass(frozen=True)
class CaseOwners:
    """Who a case belongs to, as far as access goes: its street, assignee and co-handling departments."""

    case_id: str
    street: str | None = None
    assignee: Assignee | None = None
    co_handlers: tuple[Assignee, ...] = ()


def may_read(principal: Principal, owners: CaseOwners, *, residents: bool = True) -> bool:
    """Admin, the case's street office and grid workers, its assignee, co-handlers and (if `residents`) its reporter."""
    if principal.role == "resident" and not residents:
        return False
    assignee = owners.assignee
    return principal.can_see(
        case_id=owners.case_id,
        street=owners.street,
        department=assignee.code if assignee and assignee.kind == "department" else None,
        team=assignee.code if assignee and assignee.kind == "team" else None,
        departments=tuple(c.code for c in owners.co_handlers if c.kind == "department"),
    )


def require_case(
    principal: Principal, owners: CaseOwners | None, *, case_id: str, residents: bool = True
) -> CaseOwners:
    """The owners when the caller may read the case; 404 for an unknown case, 403 for one out of scope."""
    if owners is None:
        raise ApiError(404, "not_found", f"no case {case_id}")
    if not may_read(principal, owners, residents=residents):
        raise ApiError(403, "forbidden", "this key may not read that case")
    return owners
