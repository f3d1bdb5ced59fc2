"""SLA's SQL, watermarks: per input partition, the instant through which sla has applied every event."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from services.sla.store.types import Conn


async def register_partitions(conn: Conn, partitions: Collection[tuple[str, int]]) -> None:
    """Make every input partition known (with no watermark yet), so one nobody reads holds the timers."""
    if not partitions:
        return
    topics, numbers = zip(*partitions, strict=True)
    await conn.execute(
        "INSERT INTO watermarks (topic, partition) SELECT * FROM unnest($1::text[], $2::int[]) ON CONFLICT DO NOTHING",
        list(topics),
        list(numbers),
    )


async def raise_watermarks(conn: Conn, marks: Mapping[tuple[str, int], datetime]) -> None:
    """Move partitions' watermarks forward (never back: an old owner's late write changes nothing)."""
    if not marks:
        return
    (topics, numbers), at = zip(*marks.keys(), strict=True), list(marks.values())
    await conn.execute(
        """
        INSERT INTO watermarks AS w (topic, partition, known_through)
        SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[])
        ON CONFLICT (topic, partition) DO UPDATE
            SET known_through = GREATEST(w.known_through, EXCLUDED.known_through), updated_at = now()
        """,
        list(topics),
        list(numbers),
        at,
    )


async def low_watermark(conn: Conn, topics: Collection[str]) -> datetime | None:
    """The instant every partition of `topics` is known through; None while any is unknown or has none."""
    row = await conn.fetchrow(
        "SELECT min(known_through) AS low, count(*) AS n, count(known_through) AS known, "
        "count(DISTINCT topic) AS topics FROM watermarks WHERE topic = ANY($1::text[])",
        list(topics),
    )
    if row is None or row["topics"] < len(set(topics)) or row["known"] < row["n"]:
        return None
    low: datetime = row["low"]
    return low
