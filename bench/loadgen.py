"""The load client: raw HTTP/1.1 over asyncio streams, keep-alive connections, closed or open loop.

Hand-rolled rather than httpx so the client costs little per request and cannot be the
bottleneck; `responder` is the trivial server it is measured alone against.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

BodyFn = Callable[[int], bytes]


@dataclass
class Reply:
    """One request's outcome: index, status (0 on a broken connection), body, when it was due and done."""

    index: int
    status: int
    body: bytes
    due: float
    done: float


@dataclass
class LoadResult:
    """What a run did: counts by status, wall time, per-request replies."""

    seconds: float
    replies: list[Reply] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.replies)

    def count(self, status: int) -> int:
        return sum(1 for r in self.replies if r.status == status)

    def latencies(self, status: int | None = None) -> list[float]:
        """Seconds from when each request was due (not when it was sent) to its reply."""
        return [r.done - r.due for r in self.replies if status is None or r.status == status]


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects after a failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read its reply; raises on a broken connection (after closing it)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        )
        try:
            self._writer.write(head.encode() + body)
            raw = await self._reader.readuntil(b"\r\n\r\n")
            status, length, chunked, close = _parse_head(raw)
            if chunked:
                payload = await _read_chunked(self._reader)
            else:
                payload = await self._reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            raise
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def _parse_head(raw: bytes) -> tuple[int, int, bool, bool]:
    """(status, content length, chunked?, connection close?) from a response head."""
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            close = value == "close"
    return status, length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def run_closed(
    host: str,
    port: int,
    path: str,
    body: BodyFn,
    *,
    total: int,
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Send `total` POSTs as fast as `concurrency` connections allow (each waits for its reply)."""
    counter = iter(range(total))
    replies: list[Reply] = []

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            for i in counter:
                due = time.perf_counter()
                try:
                    status, payload = await conn.request("POST", path, body(i), headers)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    status, payload = 0, b""
                replies.append(Reply(i, status, payload, due, time.perf_counter()))
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(seconds=time.perf_counter() - started, replies=replies)


async def run_open(
    host: str,
    port: int,
    path: str,
    body: BodyFn,
    *,
    rate: float,
    total: int,
    connections: int,
    headers: dict[str, str] | None = None,
    on_reply: Callable[[Reply], None] | None = None,
) -> LoadResult:
    """Offer `rate` requests/s on a fixed schedule; latency counts from the scheduled time.

    Counting from the schedule rather than the send avoids coordinated omission: a slow server
    that holds every connection shows up as latency, not as a lower offered rate.
    """
    counter = iter(range(total))
    replies: list[Reply] = []
    started = time.perf_counter() + 0.05

    async def worker() -> None:
        conn = Connection(host, port)
        try:
            for i in counter:
                due = started + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    status, payload = await conn.request("POST", path, body(i), headers)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    status, payload = 0, b""
                reply = Reply(i, status, payload, due, time.perf_counter())
                replies.append(reply)
                if on_reply is not None:
                    on_reply(reply)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return LoadResult(seconds=time.perf_counter() - started, replies=replies)


_CANNED = b'{"case_id":"00000000-0000-0000-0000-000000000000","status":"submitted","access_token":"x"}'
_CANNED_REPLY = (
    b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(_CANNED)).encode()
    + b"\r\n\r\n"
    + _CANNED
)


async def _respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(_CANNED_REPLY)
    except (asyncio.IncompleteReadError, OSError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def responder() -> AsyncIterator[int]:
    """A trivial in-process HTTP server answering every request with a canned 202; yields its port."""
    server = await asyncio.start_server(_respond, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)
