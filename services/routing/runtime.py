"""Routing's typed runtime and the unit of work its use cases open."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.routing.cases.store import Connection
from services.routing.settings import RoutingSettings
from shared.events import CloudEvent
from shared.outbox import Outbox
from shared.runtime import NoExtras
from shared.service import ServiceRuntime
from shared.uow import PgUnitOfWork

# Routing holds nothing beyond the shared runtime: its unit of work is made from the pool on demand.
RoutingRuntime = ServiceRuntime[RoutingSettings, NoExtras]


class RoutingTx(Protocol):
    """One transaction as routing's use cases use it (shared.uow's PgTransaction, or the in-memory one)."""

    # While routing's stores are module functions taking a connection, they get this one.
    @property
    def conn(self) -> Connection: ...

    @property
    def outbox(self) -> Outbox: ...

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None: ...


class RoutingUoW(Protocol):
    """Opens routing's transactions: PgUnitOfWork in the service, InMemoryUnitOfWork in unit tests."""

    def begin(self) -> AbstractAsyncContextManager[RoutingTx]: ...


def connection_store(conn: Connection) -> Connection:
    """The store of one transaction: its connection (the store modules are functions taking it)."""
    return conn


def unit_of_work(rt: RoutingRuntime) -> RoutingUoW:
    """Transactions on the running service's pool.

    Made per use (it holds three references) rather than in a Late slot filled by a background
    task: such a task first runs when the starting task yields, which an in-process request need not do.
    """
    return PgUnitOfWork(rt.pool, rt.outbox, connection_store)
