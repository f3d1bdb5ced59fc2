"""notify's FanoutStore in memory: the same interface as PgFanoutStore, for unit tests of the handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.projection import CaseState
from services.notify.store.cases import StreamEntry
from services.notify.store.deliveries import NewDelivery


@dataclass
class MemoryFanoutStore:
    """Cases, links, parked envelopes, stream rows and queued deliveries as plain Python values."""

    cases: dict[str, CaseState] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    parked: dict[str, list[tuple[datetime, dict[str, Any]]]] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    stream: list[StreamEntry] = field(default_factory=list)
    deliveries: list[NewDelivery] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)  # the LISTEN channels a commit would notify

    async def lock_cases(self, conn: Any, *, case_ids: Sequence[str]) -> dict[str, CaseState]:
        return {c: self.cases[c] for c in case_ids if c in self.cases}

    async def submissions_of_cases(self, conn: Any, *, case_ids: Sequence[str]) -> dict[str, list[str]]:
        return {c: list(self.links[c]) for c in case_ids if c in self.links}

    async def cases_with_parked(self, conn: Any, *, case_ids: Sequence[str]) -> set[str]:
        return {c for c in case_ids if self.parked.get(c)}

    async def active_subscriptions(self, conn: Any) -> Sequence[Mapping[str, Any]]:
        return list(self.subscriptions)

    async def add_link(self, conn: Any, *, submission_id: str, case_id: str, at: datetime) -> None:
        linked = self.links.setdefault(case_id, [])
        if submission_id not in linked:
            linked.append(submission_id)

    async def park(self, conn: Any, *, event_id: str, case_id: str, at: datetime, envelope: dict[str, Any]) -> None:
        self.parked.setdefault(case_id, []).append((at, envelope))

    async def unpark(self, conn: Any, *, case_id: str) -> list[dict[str, Any]]:
        return [doc for _, doc in sorted(self.parked.pop(case_id, []), key=lambda p: p[0])]

    async def save_cases(self, conn: Any, states: Sequence[CaseState], *, now: datetime) -> None:
        self.cases.update({s.case_id: s for s in states})

    async def append_stream(self, conn: Any, entries: Sequence[StreamEntry], *, schema: str, channel: str) -> None:
        if entries:
            self.stream += entries
            self.woken.append(channel)

    async def queue_deliveries(self, conn: Any, new: Sequence[NewDelivery], *, now: datetime, wake_channel: str) -> int:
        known = {(d.subscription_id, d.event_id) for d in self.deliveries}
        fresh = [d for d in new if (d.subscription_id, d.event_id) not in known]
        self.deliveries += fresh
        if fresh:
            self.woken.append(wake_channel)
        return len(fresh)
