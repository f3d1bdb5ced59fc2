"""What a service declares to consume events: its `HANDLERS` table, the context its handlers get,
and the spec `consumers(rt)` returns. The loop that runs them is shared/consumer.py.

A handler gets the live transaction and may write state and queue events; it raises PoisonMessage
for a business-impossible event (e.g. a case that does not exist).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import asyncpg
import structlog

from shared.clock import Clock
from shared.events import CloudEvent, EventData
from shared.outbox import Outbox

log = structlog.get_logger(__name__)
T = TypeVar("T")
# The service's own dependencies every handler of one consumer gets as `ctx.deps` (a frozen dataclass).
DepsT = TypeVar("DepsT")


@dataclass
class HandlerContext(Generic[DepsT]):
    """What a handler may touch: the transaction, the outbox, the clock, a bound logger and its service's deps."""

    conn: asyncpg.Connection
    outbox: Outbox
    clock: Clock
    consumer: str
    deps: DepsT
    log: Any = field(default_factory=lambda: log)  # structlog's bound loggers are untyped
    # Scratch space shared by every handler call of one unit of work (see `scratch`).
    _scratch: dict[str, Any] = field(default_factory=dict)

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None:
        """Queue an event (`payload`: already serialised); it is published after this transaction commits."""
        await self.outbox.add(self.conn, topic, event, payload=payload)

    def scratch(self, key: str, new: Callable[[], T]) -> T:
        """This transaction's object under `key` (a set-wise handler's reads and pending writes),
        made by `new` on first use; it goes with the batch, or with a rolled-back savepoint."""
        if key not in self._scratch:
            self._scratch[key] = new()
        value: T = self._scratch[key]
        return value

    def reset_scratch(self) -> None:
        """Forget what handlers recorded (a savepoint rolled back what they wrote)."""
        self._scratch.clear()

    def for_event(self, envelope: CloudEvent) -> HandlerContext[DepsT]:
        """The same transaction and scratch space, with a logger bound to this event."""
        bound = log.bind(case_id=envelope.subject, event_id=envelope.id, trace_id=envelope.traceid)
        return replace(self, log=bound)


# A handler gets the live transaction and may write state and queue events; it raises
# PoisonMessage for a business-impossible event (e.g. a case that does not exist). The payload is
# typed `Any` here so each handler can name its own model (`event: CaseRouted`).
Handler = Callable[[HandlerContext[DepsT], CloudEvent, Any], Awaitable[None]]
# A service's module-level `HANDLERS`: event model → the plain function that applies it.
HandlerTable = Mapping[type[EventData], Handler[DepsT]]
# Optional set-wise hooks around the handlers of one unit of work: `prepare` reads what every event
# of the unit needs in one statement per table, `flush` writes what the handlers gathered the same
# way. A unit is the whole batch, or a single event while a batch is redone carefully.
PrepareHook = Callable[[HandlerContext[DepsT], Sequence[tuple[CloudEvent, Any]]], Awaitable[None]]
FlushHook = Callable[[HandlerContext[DepsT]], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerSpec(Generic[DepsT]):
    """Which topics one consumer reads, which handler serves each event type, and the deps they get."""

    name: str
    topics: Sequence[str]
    handlers: HandlerTable[DepsT]
    deps: DepsT
    prepare: PrepareHook[DepsT] | None = None
    flush: FlushHook[DepsT] | None = None

    async def run_unit(
        self, ctx: HandlerContext[DepsT], items: Sequence[tuple[Handler[DepsT], CloudEvent, EventData]]
    ) -> None:
        """prepare → each handler in order → flush, in the caller's transaction."""
        if self.prepare is not None:
            await self.prepare(ctx, [(envelope, payload) for _, envelope, payload in items])
        for handler, envelope, payload in items:
            await handler(ctx.for_event(envelope), envelope, payload)
        if self.flush is not None:
            await self.flush(ctx)


def handler_spec(
    name: str,
    topics: Sequence[str],
    handlers: HandlerTable[DepsT],
    *,
    deps: DepsT,
    prepare: PrepareHook[DepsT] | None = None,
    flush: FlushHook[DepsT] | None = None,
) -> ConsumerSpec[DepsT]:
    """One consumer of a service's `HANDLERS` table (what every `consumers(rt)` returns a list of)."""
    return ConsumerSpec(name=name, topics=topics, handlers=handlers, prepare=prepare, flush=flush, deps=deps)
