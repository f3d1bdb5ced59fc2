"""SLA's figures: arming 1,000,000 deadlines, the firing lag of timers due in a short window, sla's memory.

Deadlines and their timers are written straight into the sla schema (COPY) to arm a million
quickly; the firing is done by the running sla service, which learns of them the way it learns
of any sooner timer (a NOTIFY on its timer channel). Lag = `firings.fired_at` (the service's
clock when it fired) − the instant the step was due.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.core import BenchStack, Figure
from services.sla.firing import timer_channel

FULL = {"armed": 1_000_000, "firing": 60_000, "window": 60.0}
QUICK = {"armed": 50_000, "firing": 4_000, "window": 8.0}
LAG_TARGET_S = 1.0
# The sla process keeps no timer in memory: its resident set may not grow with the number armed.
MEMORY_GROWTH_LIMIT_MB = 100.0
DURATION = timedelta(days=7)
_DEADLINE_COLUMNS = [
    "id",
    "case_id",
    "street",
    "kind",
    "round",
    "attempt",
    "assignee_kind",
    "assignee_code",
    "sla_class",
    "calendar",
    "duration",
    "started_at",
    "due_at",
    "state",
    "generation",
]


def _memory_mb(pid: int | None) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, NaN when unreadable."""
    if pid is None:
        return math.nan, math.nan
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return math.nan, math.nan
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", math.nan), values.get("VmHWM", math.nan)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


_FAR_ABOVE = 1_000_000_000


async def _reserve_ids(conn: asyncpg.Connection, *, after: int = 0) -> int:
    """The first of a block of deadline ids the running sla service will not reach.

    nextval + setval would race the service, which may still be arming deadlines of an earlier
    measurement; ids far above its sequence cannot collide with it.
    """
    current = int(await conn.fetchval("SELECT last_value FROM deadlines_id_seq"))
    return max(current + _FAR_ABOVE, after + 1)


async def _arm(
    conn: asyncpg.Connection, *, first_id: int, fire_at: list[datetime], tag: str, chunk: int = 50_000
) -> None:
    """COPY one deadline and one 50 % warning timer per instant in `fire_at`."""
    for start in range(0, len(fire_at), chunk):
        part = fire_at[start : start + chunk]
        ids = range(first_id + start, first_id + start + len(part))
        deadlines = [
            (
                i,
                f"{tag}-{i}",
                "wanxing",
                "resolution",
                1,
                1,
                "department",
                "urban_mgmt",
                "general",
                "24x7",
                DURATION,
                at - DURATION / 2,
                at + DURATION / 2,
                "armed",
                0,
            )
            for i, at in zip(ids, part, strict=True)
        ]
        await conn.copy_records_to_table("deadlines", records=deadlines, columns=_DEADLINE_COLUMNS)
        timers = [(i, 0, "warning:0.5", at) for i, at in zip(ids, part, strict=True)]
        await conn.copy_records_to_table(
            "timers", records=timers, columns=["deadline_id", "generation", "step", "fire_at"]
        )


async def measure(stack: BenchStack) -> list[Figure]:
    """Arm N deadlines, fire a window's worth through the running sla service, read its memory."""
    sizes = QUICK if stack.quick else FULL
    armed_n, firing_n, window = int(sizes["armed"]), int(sizes["firing"]), float(sizes["window"])
    background_n = armed_n - firing_n
    schema = f"{stack.schema_prefix}sla"
    pid = stack.pids.get("sla")
    tag = f"bench-sla-{random.randrange(16**8):08x}"
    conn = await asyncpg.connect(stack.dsn, server_settings={"search_path": f"{schema},public"})
    figures: list[Figure] = []
    try:
        rss_before, _ = _memory_mb(pid)
        # Most deadlines are days away (as in life: a 7-day resolution clock); they only sit there.
        now = datetime.now(UTC)
        rng = random.Random(5)
        background = [now + timedelta(days=1, seconds=rng.uniform(0, 86_400)) for _ in range(background_n)]
        started = time.perf_counter()
        first_bg = await _reserve_ids(conn)
        await _arm(conn, first_id=first_bg, fire_at=background, tag=f"{tag}-bg")
        # The measured ones fall due over the next `window` seconds, starting a few seconds from now.
        lead = 3.0
        base = datetime.now(UTC) + timedelta(seconds=lead)
        due = sorted(base + timedelta(seconds=rng.uniform(0, window)) for _ in range(firing_n))
        first_fire = await _reserve_ids(conn, after=first_bg + background_n)
        await _arm(conn, first_id=first_fire, fire_at=due, tag=f"{tag}-fire")
        arm_seconds = time.perf_counter() - started
        await conn.execute("SELECT pg_notify($1, '')", timer_channel(schema))
        figures.append(
            Figure(
                f"sla: time to arm {armed_n:,} deadlines",
                round(arm_seconds, 2),
                "s",
                note=f"{armed_n / arm_seconds:,.0f} deadlines/s, bulk COPY of deadline + timer rows",
            )
        )
        if due[0] < datetime.now(UTC):
            figures.append(Figure("sla: arming overran the firing window", 1, "", met=False))

        rss_armed, _ = _memory_mb(pid)
        last = first_fire + firing_n - 1
        deadline = time.monotonic() + window + lead + 120
        fired = 0
        while time.monotonic() < deadline:
            fired = await conn.fetchval(
                "SELECT count(*) FROM firings WHERE deadline_id BETWEEN $1 AND $2", first_fire, last
            )
            if fired >= firing_n:
                break
            await asyncio.sleep(0.5)
        lags = sorted(
            r["lag"]
            for r in await conn.fetch(
                "SELECT extract(epoch FROM fired_at - fire_at)::float8 AS lag FROM firings "
                "WHERE deadline_id BETWEEN $1 AND $2",
                first_fire,
                last,
            )
        )
        rss_fired, hwm = _memory_mb(pid)
        rate = firing_n / window
        note = f"{fired:,}/{firing_n:,} fired; {rate:,.0f} due/s over {window:.0f}s with {armed_n:,} armed"
        p99 = _percentile(lags, 0.99)
        figures += [
            Figure("sla: firing lag p50", round(_percentile(lags, 0.5), 3), "s", note=note),
            Figure(
                "sla: firing lag p99",
                round(p99, 3),
                "s",
                target=f"≤ {LAG_TARGET_S:g} s",
                met=fired >= firing_n and p99 <= LAG_TARGET_S,
                note=note,
            ),
            Figure("sla: firing lag max", round(lags[-1], 3) if lags else math.nan, "s", note=note),
        ]
        growth = max(rss_armed, rss_fired) - rss_before
        figures += [
            Figure(
                f"sla: process RSS with {armed_n:,} armed",
                round(rss_armed, 1),
                "MB",
                target=f"growth ≤ {MEMORY_GROWTH_LIMIT_MB:g} MB",
                met=None if math.isnan(growth) else growth <= MEMORY_GROWTH_LIMIT_MB,
                note=f"{rss_before:.1f} MB before arming; {rss_fired:.1f} MB after the firing window",
            ),
            Figure("sla: process peak RSS (VmHWM)", round(hwm, 1), "MB", note="high-water mark since start"),
        ]
    finally:
        try:
            # Leave the schema as it was for the modules after this one (cascades to timers and firings).
            await conn.execute("DELETE FROM deadlines WHERE case_id LIKE $1", f"{tag}-%")
        finally:
            await conn.close()
    return figures
