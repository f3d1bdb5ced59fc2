"""Who may submit what: reporter kinds per role, forcing a new case, street scope. No I/O."""

from __future__ import annotations

from services.intake.need import Need
from shared.auth import Principal
from shared.errors import Forbidden

# Anonymous callers and residents report as themselves; staff may report on others' behalf.
KINDS_BY_ROLE: dict[str, frozenset[str]] = {
    "anonymous": frozenset({"resident"}),
    "resident": frozenset({"resident"}),
    "department": frozenset({"resident"}),
    "team": frozenset({"resident"}),
    "grid_worker": frozenset({"resident", "grid_worker"}),
    "street_office": frozenset({"resident", "grid_worker", "hotline", "survey", "proactive"}),
    "admin": frozenset({"resident", "grid_worker", "hotline", "survey", "proactive"}),
}
FORCE_NEW_ROLES = frozenset({"grid_worker", "admin"})


def _forbidden(field: str, message: str) -> Forbidden:
    return Forbidden(f"{field}: {message}", fields=[{"field": field, "message": message}])


def check_submitter(principal: Principal | None, need: Need, *, force_new: bool) -> None:
    """Forbidden (403) naming the field when this caller may not submit this need as given."""
    role = "anonymous" if principal is None else principal.role
    if need.reporter_kind not in KINDS_BY_ROLE.get(role, frozenset()):
        raise _forbidden("reporter.kind", f"a {role} caller may not report as {need.reporter_kind!r}")
    if force_new and (need.reporter_kind != "grid_worker" or role not in FORCE_NEW_ROLES):
        raise _forbidden("force_new", "only grid workers (reporter.kind grid_worker, grid_worker key) may force a case")
    scope = principal.scope if principal is not None and role in {"grid_worker", "street_office"} else None
    if scope is not None and need.street != scope:
        raise _forbidden("community", f"community {need.community!r} is outside street {scope!r} of this key")
