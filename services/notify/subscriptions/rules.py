"""Subscription rules, pure: what a caller may subscribe to, and which events a subscription wants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.notify.audience import Audience
from shared.auth import Principal
from shared.events import known_types

SCOPE_KINDS = ("all", "street", "department", "team", "case")


class ScopeError(Exception):
    """The caller asked for a scope outside its own (403)."""


class FilterError(ValueError):
    """An event-type filter names no known type."""


@dataclass(frozen=True)
class Scope:
    """What a subscription covers: everything, a street, a department, a team or one case."""

    kind: str
    code: str = ""


def default_scope(principal: Principal) -> Scope:
    """The scope a caller gets when it names none: its own."""
    if principal.case_id is not None:
        return Scope("case", principal.case_id)
    if principal.role == "admin":
        return Scope("all")
    if principal.role in ("street_office", "grid_worker"):
        return Scope("street", principal.scope) if principal.scope else Scope("all")
    if principal.role == "department" and principal.scope:
        return Scope("department", principal.scope)
    if principal.role == "team" and principal.scope:
        return Scope("team", principal.scope)
    raise ScopeError("this key has no scope to subscribe to")


def check_scope(principal: Principal, wanted: Scope, *, case_audience: Audience | None = None) -> Scope:
    """`wanted` if it lies within the caller's own scope, else ScopeError.

    A case scope is allowed when the caller may see that case now (`case_audience`).
    """
    if principal.role == "admin":
        return wanted
    own = default_scope(principal)
    if wanted == own or (own.kind == "all" and wanted.kind != "all"):
        return wanted
    if wanted.kind == "case" and case_audience is not None and case_audience.visible_to(principal):
        return wanted
    return _deny(wanted)


def _deny(wanted: Scope) -> Scope:
    raise ScopeError(f"scope {wanted.kind}{':' + wanted.code if wanted.code else ''} is outside this key's own scope")


def check_event_types(types: Sequence[str]) -> list[str]:
    """Normalise an event-type filter; entries are full types or prefixes ending in `*`."""
    known = sorted(known_types())
    out = []
    for raw in types:
        value = raw.strip()
        if value.endswith("*"):
            if not any(k.startswith(value[:-1]) for k in known):
                raise FilterError(f"{value!r} matches no event type; known types: {', '.join(known)}")
        elif value not in known:
            raise FilterError(f"unknown event type {value!r}; known types: {', '.join(known)}")
        out.append(value)
    return list(dict.fromkeys(out))


def wants_type(filters: Sequence[str], event_type: str) -> bool:
    """An empty filter takes every type."""
    if not filters:
        return True
    return any(event_type.startswith(f[:-1]) if f.endswith("*") else event_type == f for f in filters)


def owner_principal(row: Mapping[str, Any]) -> Principal:
    """The principal a subscription was created by; deliveries never exceed what it may see."""
    return Principal(
        role=row["owner_role"],
        scope=row["owner_scope"],
        case_id=row["owner_case"],
    )
