"""A steady stream of sequence-numbered needs into intake, running while the faults happen.

A request whose reply never came (intake killed, database down) is never retried: its outcome
is unknown, and the checker finds out from intake's table whether it was committed. Retrying
without an idempotency key could create the same need twice and hide a real double.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from urllib.parse import urlsplit

import orjson

from bench.loadgen import Connection
from bench.needs import need_body


class NeedStream:
    """Submits need #0, #1, … at `rate` per second over a few keep-alive connections."""

    def __init__(self, url: str, *, rate: float, tag: str, connections: int = 8) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rate = rate
        self.tag = tag
        self.connections = connections
        self.accepted: dict[int, str] = {}  # seq -> case id
        self.statuses: Counter[int] = Counter()  # 0: no reply (connection refused or cut)
        self.sent = 0
        self._next = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="need-stream")

    async def stop(self) -> None:
        """Stop sending; waits for the requests in flight."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def burst(self, n: int, *, concurrency: int = 32) -> None:
        """Send `n` extra needs as fast as possible (to catch consumers mid-batch)."""
        counter = iter(range(n))

        async def worker() -> None:
            conn = Connection(self.host, self.port)
            try:
                for _ in counter:
                    await self._send(conn, self._take())
            finally:
                await conn.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    def _take(self) -> int:
        seq, self._next = self._next, self._next + 1
        return seq

    async def _send(self, conn: Connection, seq: int) -> None:
        self.sent += 1
        try:
            status, body = await conn.request("POST", "/v1/needs", need_body(seq, tag=self.tag))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.statuses[0] += 1
            await asyncio.sleep(0.05)  # the peer is gone; don't spin
            return
        self.statuses[status] += 1
        if status == 202:
            with contextlib.suppress(ValueError, KeyError):
                self.accepted[seq] = orjson.loads(body)["case_id"]

    async def _run(self) -> None:
        next_due = time.perf_counter()

        async def worker() -> None:
            nonlocal next_due
            conn = Connection(self.host, self.port)
            try:
                while not self._stop.is_set():
                    # At most half a second of catch-up after an outage, not a flood.
                    next_due = max(next_due, time.perf_counter() - 0.5) + 1 / self.rate
                    delay = next_due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await self._send(conn, self._take())
            finally:
                await conn.close()

        await asyncio.gather(*(worker() for _ in range(self.connections)))
