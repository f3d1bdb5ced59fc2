"""The unit of work a use case opens: one transaction, the service's store on it, events queued in it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from shared.events import CloudEvent
from shared.outbox import Outbox

StoreT = TypeVar("StoreT")
StoreT_co = TypeVar("StoreT_co", covariant=True)


class Transaction(Protocol[StoreT_co]):
    """What a use case holds inside `async with uow.begin() as tx`."""

    @property
    def store(self) -> StoreT_co: ...

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None: ...


class UnitOfWork(Protocol[StoreT_co]):
    """Opens transactions; the real one on PostgreSQL, the in-memory one in shared.testing."""

    def begin(self) -> Any: ...  # an async context manager yielding a Transaction[StoreT_co]


@dataclass
class PgTransaction(Generic[StoreT]):
    """A PostgreSQL transaction: `store` works on `conn`; published events go to the outbox in it."""

    conn: asyncpg.Connection
    store: StoreT
    outbox: Outbox

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None:
        """Queue an event; the relay publishes it after this transaction commits."""
        await self.outbox.add(self.conn, topic, event, payload=payload)


class PgUnitOfWork(Generic[StoreT]):
    """Transactions on the service's pool; `make_store(conn)` builds the service's store for each."""

    def __init__(self, pool: asyncpg.Pool, outbox: Outbox, make_store: Callable[[asyncpg.Connection], StoreT]) -> None:
        self._pool = pool
        self._outbox = outbox
        self._make_store = make_store

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[PgTransaction[StoreT]]:
        """Commit when the block ends, roll back when it raises."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield PgTransaction(conn=conn, store=self._make_store(conn), outbox=self._outbox)
