"""Find and run the per-issue `bench/measure_*.py` modules; one failing module never stops the run."""

from __future__ import annotations

import asyncio
import importlib
import math
import time
import traceback
from pathlib import Path

import structlog

from bench.core import BenchStack, Figure

log = structlog.get_logger(__name__)
BENCH_DIR = Path(__file__).parent


def measure_modules(directory: Path = BENCH_DIR) -> list[str]:
    """Dotted names of every measure module, in name order."""
    return [f"bench.{p.stem}" for p in sorted(directory.glob("measure_*.py"))]


async def run_module(name: str, stack: BenchStack, *, limit: float) -> list[Figure]:
    """Run one module's `measure(stack)`; a failure or timeout becomes a single 'failed' figure."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
        measure = module.measure
        async with asyncio.timeout(limit):
            figures = list(await measure(stack))
        for f in figures:
            if not isinstance(f, Figure):
                raise TypeError(f"measure() returned {type(f).__name__}, not Figure")
        return figures
    except Exception as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        log.warning("measure module failed", module=name, error=reason, trace=traceback.format_exc()[-2000:])
        return [
            Figure(
                f"{name.removeprefix('bench.')}: failed",
                math.nan,
                "",
                met=False,
                note=f"{reason} after {time.perf_counter() - started:.0f}s"[:300],
            )
        ]
