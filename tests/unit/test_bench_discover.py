"""Per-issue measure modules: found by name, and a failing one is reported, never fatal."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

from bench.core import BenchStack, Figure
from bench.discover import measure_modules, run_module

STACK = BenchStack(dsn="", bootstrap="", urls={}, keys={}, quick=True)


def test_measure_modules_are_found_by_file_name(tmp_path: Path) -> None:
    for name in ("measure_b.py", "measure_a.py", "helper.py"):
        (tmp_path / name).write_text("")
    assert measure_modules(tmp_path) == ["bench.measure_a", "bench.measure_b"]


def _fake(name: str, measure: object) -> str:
    module = types.ModuleType(name)
    module.measure = measure  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


async def test_a_module_that_raises_becomes_one_failed_figure() -> None:
    async def measure(stack: BenchStack) -> list[Figure]:
        raise RuntimeError("broker gone")

    figures = await run_module(_fake("bench.measure_fake_raises", measure), STACK, limit=5)
    assert len(figures) == 1
    assert figures[0].name == "measure_fake_raises: failed"
    assert math.isnan(figures[0].value)
    assert figures[0].met is False
    assert "broker gone" in figures[0].note


async def test_a_module_that_hangs_times_out() -> None:
    import asyncio

    async def measure(stack: BenchStack) -> list[Figure]:
        await asyncio.sleep(10)
        return []

    figures = await run_module(_fake("bench.measure_fake_hangs", measure), STACK, limit=0.05)
    assert "timed out" in figures[0].note


async def test_a_good_module_passes_its_figures_through() -> None:
    async def measure(stack: BenchStack) -> list[Figure]:
        return [Figure("timers armed", 1e6, "timers", target="≥ 1000000", met=True)]

    figures = await run_module(_fake("bench.measure_fake_good", measure), STACK, limit=5)
    assert [f.name for f in figures] == ["timers armed"]
