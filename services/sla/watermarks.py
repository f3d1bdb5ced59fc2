"""Input watermarks: how far sla has read its input topics, so no timer fires on a stale view.

Rule (docs/sla.md, "After an outage"): per input partition, sla is *known through* the later of
(a) the newest event time it has applied and committed from that partition and (b) the clock time
of the last fetch that found the partition drained (at its high watermark, after at least one fetch
answered). The timer loop fires only steps due at or before the lowest of these over every
partition of every input topic (and never after the clock's now); a partition nobody has read
yet holds every timer. Each sla process writes the partitions assigned to it; the table only
moves forward, so a former owner's late write changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import structlog

from services.sla import store

if TYPE_CHECKING:
    from services.sla.runtime import SlaRuntime

log = structlog.get_logger(__name__)
Partition = tuple[str, int]


class TopicPartitionLike(Protocol):
    """What sla reads of a Kafka topic-partition (aiokafka's TopicPartition; only shared/ imports aiokafka)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


TP = TypeVar("TP", bound=TopicPartitionLike)
# How often a process looks at its consumer's progress (a timer due now waits at most about this long).
INTERVAL = 0.1


def known_through(
    applied: Mapping[TP, datetime],
    caught_up: Mapping[TP, datetime],
    assigned: Collection[TP],
) -> dict[Partition, datetime]:
    """Per partition assigned here, the instant through which every event published before it is applied."""
    out: dict[Partition, datetime] = {}
    for tp in assigned:
        marks = [m for m in (applied.get(tp), caught_up.get(tp)) if m is not None]
        if marks:
            out[(tp.topic, tp.partition)] = max(marks)
    return out


def horizon(now: datetime, low: datetime | None) -> datetime | None:
    """The latest due instant the timer loop may fire now: the clock, held back to the low watermark."""
    return None if low is None else min(now, low)


def forward(marks: Mapping[Partition, datetime], written: Mapping[Partition, datetime]) -> dict[Partition, datetime]:
    """The marks that moved past what this process wrote last."""
    return {p: at for p, at in marks.items() if p not in written or at > written[p]}


async def keep_watermarks(rt: SlaRuntime) -> None:
    """Write this process's consumer progress to the watermarks table until cancelled; wake the timers on news."""
    registered: set[Partition] = set()
    written: dict[Partition, datetime] = {}
    while True:
        try:
            for consumer in rt.consumers:
                known = {(tp.topic, tp.partition) for tp in consumer.partitions()}
                if known - registered:
                    await store.register_partitions(rt.pool, known - registered)
                    registered |= known
                marks = known_through(consumer.applied_through, consumer.caught_up_at, consumer.assignment())
                moved = forward(marks, written)
                if moved:
                    await store.raise_watermarks(rt.pool, moved)
                    written.update(moved)
                    if timers := rt.extras.timers.get_or_none():
                        timers.wake()
        except Exception as exc:  # the database may be away; the timers stay held meanwhile
            log.warning("could not write input watermarks", error=str(exc))
        await asyncio.sleep(INTERVAL)
