"""Upcasting: turn an old version of an event's data into the current one before it is validated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (type, from_version) → a pure function from that version's `data` to the next version's.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class NoUpcastPath(Exception):
    """No upcaster leads from this version to the current one."""


def upcaster(event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register `f(data_v_n) -> data_v_n+1` for `event_type` at `from_version` = n."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS and _UPCASTERS[key] is not fn:
            raise RuntimeError(f"upcaster for {event_type} v{from_version} registered twice")
        _UPCASTERS[key] = fn
        return fn

    return register


def upcast(event_type: str, data: dict[str, Any], *, version: int, target: int) -> dict[str, Any]:
    """`data` written at `version`, brought up to `target` one step at a time."""
    while version < target:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise NoUpcastPath(f"{event_type} v{version} has no upcaster to v{version + 1}")
        data = step(dict(data))
        version += 1
    return data


def unregister(event_type: str, *, from_version: int) -> None:
    """Forget one upcaster (tests register temporary ones)."""
    _UPCASTERS.pop((event_type, from_version), None)
