"""`make bench`: bring the stack up, measure the limits and the pipeline beside them, report, stop."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import discover, report
from bench.core import Figure
from bench.limits import Limits, measure_limits
from bench.pipeline import Sequence, busiest_day_bulk, busiest_day_http, intake_rate, latency, peak_memory, settle
from bench.stack import running_stack

RESULTS = Path(__file__).parent / "results"


def say(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


async def guarded(name: str, work: Awaitable[list[Figure]]) -> list[Figure]:
    """Run one section; if it fails, report it as a failed figure and carry on."""
    say(f"{name} …")
    started = time.perf_counter()
    try:
        figures = await work
    except Exception as exc:
        say(f"{name} FAILED: {type(exc).__name__}: {exc}")
        return [Figure(f"{name}: failed", math.nan, "", met=False, note=f"{type(exc).__name__}: {exc}"[:300])]
    say(f"{name} done in {time.perf_counter() - started:.1f}s")
    return figures


def write_results(
    figures: list[Figure], meta: dict[str, object], results: Path, stamp: str
) -> tuple[Path, Path | None]:
    """<stamp>.json, <stamp>.md (the table in Markdown) and <stamp>.png under `results`."""
    results.mkdir(parents=True, exist_ok=True)
    json_path = results / f"{stamp}.json"
    json_path.write_text(report.to_json(figures, meta=meta))
    (results / f"{stamp}.md").write_text(report.markdown_table(figures) + "\n")
    png = report.chart(figures, results / f"{stamp}.png", title=f"lastmeter bench {stamp} ({meta['mode']})")
    return json_path, png


async def run_bench(*, quick: bool, results: Path = RESULTS) -> int:
    """Measure everything once; returns the process exit code (0 even when targets are missed)."""
    started = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    figures: list[Figure] = []
    say(f"starting broker, PostgreSQL and the four services ({'quick' if quick else 'full'} run) …")
    async with running_stack(quick=quick) as running:
        stack = running.stack
        say(f"stack up in {time.perf_counter() - started:.1f}s (logs in {running.workdir})")
        limits = Limits()
        seq = Sequence()
        figures += await guarded("limits", measure_limits(stack, limits))
        pool = await asyncpg.create_pool(stack.dsn, min_size=1, max_size=2)
        try:

            async def settled() -> None:
                # Each measure starts from an idle pipeline: a backlog left by the one before would
                # otherwise be charged to it.
                waited = await settle(
                    pool,
                    stack.schema_prefix,
                    quiet_for=1.0 if stack.quick else 3.0,
                    within=240.0 if stack.quick else 900.0,
                )
                if waited > 4:
                    say(f"  (waited {waited:.0f}s for the pipeline to drain)")

            figures += await guarded("intake durable rate", intake_rate(stack, limits, seq))
            await settled()
            figures += await guarded("latency at 500 needs/s", latency(stack, seq))
            await settled()
            figures += await guarded("busiest day via HTTP", busiest_day_http(stack, limits, seq, pool))
            await settled()
            figures += await guarded("busiest day via bulk insert", busiest_day_bulk(stack, limits, seq))
            figures += peak_memory(stack)
            for name in discover.measure_modules():
                await settled()
                say(f"{name} …")
                figures += await discover.run_module(name, stack, limit=90 if quick else 900)
        finally:
            await pool.close()
    elapsed = time.perf_counter() - started
    meta = {
        "started": stamp,
        "mode": "quick" if quick else "full",
        "seconds": round(elapsed, 1),
        "machine": report.machine(),
        # Other work on the machine skews every figure; the 1/5/15-minute load shows how much there was.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "command": "make bench QUICK=1" if quick else "make bench",
    }
    json_path, png = write_results(figures, meta, results, stamp)
    print(report.table(figures))
    m = report.machine()
    print(
        f"\n{m['cpus']} CPUs ({m['cpu_model']}), {m['memory']}; {meta['mode']} run took {elapsed:.0f}s; "
        f"load average at the end {meta['load_average_at_end']}"
    )
    print(f"results: {json_path}" + (f"\nchart:   {png}" if png else "\nchart:   skipped (pip install -e '.[bench]')"))
    return 0
