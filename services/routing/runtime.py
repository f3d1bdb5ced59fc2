"""Routing's typed runtime and the unit of work its use cases open."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.routing.cases import store as cases_store
from services.routing.cases.store import CaseStore, Connection
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

    # Routing's stores are module functions taking the connection: `store` runs them on `conn`.
    @property
    def conn(self) -> Connection: ...

    @property
    def store(self) -> CaseStore: ...

    @property
    def outbox(self) -> Outbox: ...

    async def publish(self, topic: str, event: CloudEvent, *, payload: bytes | None = None) -> None: ...


class RoutingUoW(Protocol):
    """Opens routing's transactions: PgUnitOfWork in the service, InMemoryUnitOfWork in unit tests."""

    def begin(self) -> AbstractAsyncContextManager[RoutingTx]: ...


def case_store(conn: Connection) -> CaseStore:
    """The case store of one transaction: the store package's functions (they take the connection)."""
    return cases_store


def unit_of_work(rt: RoutingRuntime) -> RoutingUoW:
    """Transactions on the running service's pool.

    Made per use (it holds three references) rather than in a Late slot filled by a background
    task: such a task first runs when the starting task yields, which an in-process request need not do.
    """
    return PgUnitOfWork(rt.pool, rt.outbox, case_store)
