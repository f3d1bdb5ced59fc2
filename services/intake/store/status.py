"""The status consumer's store: what its handlers read and write, behind a Protocol an in-memory twin can fill."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.intake.store import cases
from shared.auth import set_case_token_expiry
from shared.events.status import StatusChange


class StatusStore(Protocol):
    """Cases as the status consumer sees them; `conn` is the consumer's batch transaction."""

    async def lock_cases(self, conn: Any, *, case_ids: Sequence[str]) -> set[str]: ...

    async def apply_change(
        self, conn: Any, *, case_id: str, change: StatusChange, now: datetime, event_id: str
    ) -> bool: ...

    async def set_expected(
        self, conn: Any, *, case_id: str, due_at: datetime | None, at: datetime, now: datetime
    ) -> bool: ...

    async def status_of(self, conn: Any, *, case_id: str) -> tuple[str, datetime] | None: ...

    async def set_token_expiry(self, conn: Any, *, case_id: str, expires_at: datetime | None) -> None: ...


@dataclass(frozen=True)
class PgStatusStore:
    """The status consumer's store on PostgreSQL; residents' tokens live in `auth_schema`."""

    auth_schema: str

    async def lock_cases(self, conn: cases.Connection, *, case_ids: Sequence[str]) -> set[str]:
        return await cases.lock_cases(conn, case_ids=case_ids)

    async def apply_change(
        self, conn: cases.Connection, *, case_id: str, change: StatusChange, now: datetime, event_id: str
    ) -> bool:
        return await cases.apply_change(conn, case_id=case_id, change=change, now=now, event_id=event_id)

    async def set_expected(
        self, conn: cases.Connection, *, case_id: str, due_at: datetime | None, at: datetime, now: datetime
    ) -> bool:
        return await cases.set_expected(conn, case_id=case_id, due_at=due_at, at=at, now=now)

    async def status_of(self, conn: cases.Connection, *, case_id: str) -> tuple[str, datetime] | None:
        return await cases.status_of(conn, case_id=case_id)

    async def set_token_expiry(self, conn: cases.Connection, *, case_id: str, expires_at: datetime | None) -> None:
        await set_case_token_expiry(conn, auth_schema=self.auth_schema, case_ids=[case_id], expires_at=expires_at)
