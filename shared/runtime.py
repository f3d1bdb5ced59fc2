"""Typed pieces of a service's runtime extras: slots filled at start, and the empty extras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class Late(Generic[T]):
    """A value the service makes once it has started (it needs the pool or the broker); set once, then read."""

    def __init__(self, name: str = "value") -> None:
        self._name = name
        self._value: T | None = None

    @property
    def ready(self) -> bool:
        return self._value is not None

    def set(self, value: T) -> None:
        """Fill the slot (at start); a second fill is a wiring bug."""
        if self._value is not None:
            raise RuntimeError(f"{self._name} is already set")
        self._value = value

    def get(self) -> T:
        """The value, or a clear error when read before the service started."""
        if self._value is None:
            raise RuntimeError(f"{self._name} is not ready: it is made when the service starts")
        return self._value

    def get_or_none(self) -> T | None:
        """The value, or None before start (for readiness checks and tests that poll)."""
        return self._value


@dataclass(frozen=True)
class NoExtras:
    """The extras of a service that holds nothing beyond the shared runtime."""
