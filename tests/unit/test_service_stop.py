"""A service's shutdown is bounded: a dead database or broker cannot hold it up."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared import service
from shared.service import ServiceRuntime


class _Hangs:
    """A client whose stop never returns (a broker or database that went away first)."""

    def __init__(self) -> None:
        self.terminated = False

    async def stop(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        await asyncio.Event().wait()

    def terminate(self) -> None:
        self.terminated = True


async def _retries_until(done: asyncio.Event) -> None:
    """A loop that swallows its cancellation, as a retry-with-backoff loop can by mistake."""
    while not done.is_set():
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            continue


async def test_stop_returns_in_bounded_time_when_everything_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "STOP_STEP_SECONDS", 0.2)
    runtime = ServiceRuntime.__new__(ServiceRuntime)  # no settings, no I/O: only what stop() touches
    done = asyncio.Event()
    stuck = asyncio.ensure_future(_retries_until(done))
    runtime._tasks = [stuck]
    runtime.consumers = [_Hangs(), _Hangs()]  # type: ignore[list-item]
    runtime.producer = _Hangs()  # type: ignore[assignment]
    pool = _Hangs()
    runtime.pool = pool  # type: ignore[assignment]
    started = time.monotonic()
    async with asyncio.timeout(5):
        await runtime.stop()
    took = time.monotonic() - started
    assert took < 5 * 0.2 + 0.5, f"stop took {took:.2f}s"
    assert pool.terminated, "a pool that does not close in time is terminated"
    done.set()
    await asyncio.gather(stuck, return_exceptions=True)
