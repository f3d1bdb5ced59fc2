"""What the fan-out consumer reads and writes, behind one interface (PostgreSQL here, a dict in unit tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from services.notify.projection import CaseState
from services.notify.store import cases, deliveries
from services.notify.store.cases import StreamEntry
from services.notify.store.deliveries import NewDelivery


class FanoutStore(Protocol):
    """The fan-out consumer's reads and writes, each in the consumer's transaction `conn`."""

    async def lock_cases(self, conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> dict[str, CaseState]: ...

    async def submissions_of_cases(
        self, conn: asyncpg.Connection, *, case_ids: Sequence[str]
    ) -> dict[str, list[str]]: ...

    async def cases_with_parked(self, conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> set[str]: ...

    async def active_subscriptions(self, conn: asyncpg.Connection) -> Sequence[Mapping[str, Any]]: ...

    async def add_link(self, conn: asyncpg.Connection, *, submission_id: str, case_id: str, at: datetime) -> None: ...

    async def park(
        self, conn: asyncpg.Connection, *, event_id: str, case_id: str, at: datetime, envelope: dict[str, Any]
    ) -> None: ...

    async def unpark(self, conn: asyncpg.Connection, *, case_id: str) -> list[dict[str, Any]]: ...

    async def save_cases(self, conn: asyncpg.Connection, states: Sequence[CaseState], *, now: datetime) -> None: ...

    async def append_stream(
        self, conn: asyncpg.Connection, entries: Sequence[StreamEntry], *, schema: str, channel: str
    ) -> None: ...

    async def queue_deliveries(
        self, conn: asyncpg.Connection, new: Sequence[NewDelivery], *, now: datetime, wake_channel: str
    ) -> int: ...


class PgFanoutStore:
    """The real one: notify's tables."""

    async def lock_cases(self, conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> dict[str, CaseState]:
        return await cases.lock_cases(conn, case_ids=case_ids)

    async def submissions_of_cases(self, conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> dict[str, list[str]]:
        return await cases.submissions_of_cases(conn, case_ids=case_ids)

    async def cases_with_parked(self, conn: asyncpg.Connection, *, case_ids: Sequence[str]) -> set[str]:
        return await cases.cases_with_parked(conn, case_ids=case_ids)

    async def active_subscriptions(self, conn: asyncpg.Connection) -> Sequence[Mapping[str, Any]]:
        rows: Sequence[Mapping[str, Any]] = await deliveries.active_subscriptions(conn)
        return rows

    async def add_link(self, conn: asyncpg.Connection, *, submission_id: str, case_id: str, at: datetime) -> None:
        await cases.add_link(conn, submission_id=submission_id, case_id=case_id, at=at)

    async def park(
        self, conn: asyncpg.Connection, *, event_id: str, case_id: str, at: datetime, envelope: dict[str, Any]
    ) -> None:
        await cases.park(conn, event_id=event_id, case_id=case_id, at=at, envelope=envelope)

    async def unpark(self, conn: asyncpg.Connection, *, case_id: str) -> list[dict[str, Any]]:
        return await cases.unpark(conn, case_id=case_id)

    async def save_cases(self, conn: asyncpg.Connection, states: Sequence[CaseState], *, now: datetime) -> None:
        await cases.save_cases(conn, states, now=now)

    async def append_stream(
        self, conn: asyncpg.Connection, entries: Sequence[StreamEntry], *, schema: str, channel: str
    ) -> None:
        if not entries:
            return
        # Held until commit, so stream ids commit in order and Last-Event-ID resumption has no gap;
        # taken here, at the end of the batch, to hold it as briefly as possible.
        await cases.lock_stream(conn, schema=schema)
        await cases.append_stream(conn, entries, channel=channel)

    async def queue_deliveries(
        self, conn: asyncpg.Connection, new: Sequence[NewDelivery], *, now: datetime, wake_channel: str
    ) -> int:
        queued = await deliveries.queue_deliveries(conn, new, now=now)
        if queued:
            await conn.execute("SELECT pg_notify($1, '')", wake_channel)
        return queued
