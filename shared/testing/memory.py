"""The in-memory unit of work, outbox and producer: same interfaces as the real ones, no I/O."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

from shared.clock import Clock, ManualClock
from shared.events import CloudEvent
from shared.handlers import HandlerContext
from shared.outbox import Outbox, OutgoingMessage

StoreT = TypeVar("StoreT")
DepsT = TypeVar("DepsT")


class NoConnection:
    """Stands in for the connection in memory: any use of it is a test wiring error, said plainly."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"in-memory test touched the database connection (.{name}); use an in-memory store")


class FakeOutbox(Outbox):
    """An outbox that keeps what was queued (`messages`, `events`) instead of writing a table."""

    def __init__(self, *, topic_prefix: str = "") -> None:
        super().__init__(schema="memory", topic_prefix=topic_prefix)
        self.messages: list[OutgoingMessage] = []

    async def add_messages(self, conn: Any, messages: Iterable[OutgoingMessage]) -> None:
        self.messages.extend(messages)

    @property
    def events(self) -> list[tuple[str, CloudEvent]]:
        """(topic, envelope) of every queued message that is a structured-mode event."""
        return [(m.topic, CloudEvent.model_validate(orjson.loads(m.payload))) for m in self.messages]

    def types(self) -> list[str]:
        """The CloudEvents type of every queued event, in order."""
        return [event.type for _, event in self.events]


@dataclass
class InMemoryTransaction(Generic[StoreT]):
    """A transaction over an in-memory store; events go to the unit of work's pending list."""

    store: StoreT
    outbox: FakeOutbox
    conn: Any = field(default_factory=NoConnection)

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None:
        await self.outbox.add(self.conn, topic, event, payload=payload)


class InMemoryUnitOfWork(Generic[StoreT]):
    """Commit keeps the block's changes and events; an exception rolls both back (the store is a copy)."""

    def __init__(self, store: StoreT) -> None:
        self.store = store
        self.outbox = FakeOutbox()
        self.commits = 0
        self.rollbacks = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[InMemoryTransaction[StoreT]]:
        # The block works on a deep copy, swapped in on commit: a rolled-back use case leaves no trace.
        working = copy.deepcopy(self.store)
        pending = FakeOutbox(topic_prefix=self.outbox.topic_prefix)
        try:
            yield InMemoryTransaction(store=working, outbox=pending)
        except BaseException:
            self.rollbacks += 1
            raise
        self.store = working
        self.outbox.messages.extend(pending.messages)
        self.commits += 1

    @property
    def published(self) -> list[tuple[str, CloudEvent]]:
        """Every event committed so far, with its topic."""
        return self.outbox.events


@dataclass
class FakeProducer:
    """Records what the relay would send, in order; `fail_next` makes the next send raise."""

    sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)
    fail_next: Exception | None = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> asyncio.Future[None]:
        """Like aiokafka's: queued now, acknowledged by awaiting the returned future."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            done.set_exception(exc)
        else:
            self.sent.append((topic, value, key, list(headers or [])))
            done.set_result(None)
        return done

    async def send_and_wait(
        self, topic: str, value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await (await self.send(topic, value, key=key, headers=headers))


def handler_context(
    deps: DepsT, *, clock: Clock | None = None, outbox: FakeOutbox | None = None, consumer: str = "test"
) -> HandlerContext[DepsT]:
    """A context to call a handler from a service's `HANDLERS` directly, without Kafka or PostgreSQL."""
    return HandlerContext(
        conn=NoConnection(),
        outbox=outbox or FakeOutbox(),
        clock=clock or ManualClock(datetime(2026, 1, 1, tzinfo=UTC)),
        consumer=consumer,
        deps=deps,
    )
