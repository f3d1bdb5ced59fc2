"""Backoff for transient failures, and the test for what counts as transient."""

from __future__ import annotations

import asyncio
import random

import asyncpg
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

_TRANSIENT = (
    OSError,
    TimeoutError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.LockNotAvailableError,  # lock_timeout
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout, or a cancel request
    asyncpg.InterfaceError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)


def is_transient(exc: BaseException) -> bool:
    """True for failures that go away by themselves (network, restarts, lock conflicts)."""
    return isinstance(exc, _TRANSIENT)


class Backoff:
    """Exponential backoff with full jitter."""

    def __init__(self, *, initial: float = 0.1, maximum: float = 10.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * (2**self.attempt))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())


def signature(exc: BaseException) -> str:
    """What makes two failures "the same": the error's type and text."""
    return f"{type(exc).__name__}: {exc}"


class FailureLedger:
    """How many times in a row each event failed with the same error (in memory, one batch's worth).

    A different error starts the count again: only a failure that repeats identically is a sign
    that the event itself, not the world around it, is at fault.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int]] = {}

    def record(self, key: str, exc: BaseException) -> int:
        """Count one failure of `key`; returns how many identical ones in a row, this one included."""
        sig = signature(exc)
        last, count = self._seen.get(key, ("", 0))
        count = count + 1 if last == sig else 1
        self._seen[key] = (sig, count)
        return count

    def count(self, key: str) -> int:
        """Identical failures in a row recorded for `key` so far."""
        return self._seen.get(key, ("", 0))[1]

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)
