"""SLA's SQL, rate counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from services.sla.rates import Increment
from services.sla.store.types import Conn


async def add_increments(conn: asyncpg.Connection, increments: Sequence[Increment]) -> None:
    """Add counter increments (one statement; rows created on first use)."""
    if not increments:
        return
    cols: dict[str, list[Any]] = {c: [] for c in ("dimension", "value", "street", "period", "bucket")}
    counters: dict[str, list[int]] = {
        c: [] for c in ("dispatched", "signed_in_time", "closed", "solved", "rated", "satisfied")
    }
    merged: dict[tuple[Any, ...], dict[str, int]] = {}
    for inc in increments:
        key = (inc.dimension, inc.value, inc.street, inc.period, inc.bucket)
        slot = merged.setdefault(key, dict.fromkeys(counters, 0))
        slot[inc.counter] += inc.amount
    for key, amounts in merged.items():
        for name, value in zip(cols, key, strict=True):
            cols[name].append(value)
        for name in counters:
            counters[name].append(amounts[name])
    await conn.execute(
        """
        INSERT INTO rate_counters AS r (dimension, value, street, period, bucket, dispatched, signed_in_time,
                                        closed, solved, rated, satisfied)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::bigint[],
                             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
        ON CONFLICT (dimension, period, bucket, value, street) DO UPDATE SET
            dispatched = r.dispatched + EXCLUDED.dispatched,
            signed_in_time = r.signed_in_time + EXCLUDED.signed_in_time,
            closed = r.closed + EXCLUDED.closed,
            solved = r.solved + EXCLUDED.solved,
            rated = r.rated + EXCLUDED.rated,
            satisfied = r.satisfied + EXCLUDED.satisfied
        """,
        *cols.values(),
        *counters.values(),
    )


async def rate_rows(
    conn: Conn,
    *,
    dimension: str,
    period: str,
    first: date,
    last: date,
    street: str | None = None,
    value: str | None = None,
) -> list[asyncpg.Record]:
    """Counters per (value, bucket) in [first, last], summed over streets unless one is given."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT value, bucket, sum(dispatched)::bigint AS dispatched, sum(signed_in_time)::bigint AS signed_in_time,
               sum(closed)::bigint AS closed, sum(solved)::bigint AS solved, sum(rated)::bigint AS rated,
               sum(satisfied)::bigint AS satisfied
        FROM rate_counters
        WHERE dimension = $1 AND period = $2 AND bucket BETWEEN $3 AND $4
          AND ($5::text IS NULL OR street = $5) AND ($6::text IS NULL OR value = $6)
        GROUP BY value, bucket ORDER BY value, bucket
        """,
        dimension,
        period,
        first,
        last,
        street,
        value,
    )
    return rows
