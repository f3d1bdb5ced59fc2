"""Pure number work for the benchmarks: percentiles, rates, and judging a figure against its target."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_TARGET = re.compile(r"^\s*(≥|>=|≤|<=)\s*([0-9.,_]+)\s*(\S*)\s*$")
# Units a target may be written in, and the factor that turns them into the figure's unit.
_SCALE = {("ms", "s"): 1e-3, ("s", "ms"): 1e3}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rate(count: int, seconds: float) -> float:
    """count per second; NaN when nothing was timed."""
    return count / seconds if seconds > 0 else math.nan


def ratio(value: float, limit: float) -> float:
    """value / limit; NaN when the limit is missing or zero."""
    if not limit or math.isnan(limit) or math.isnan(value):
        return math.nan
    return value / limit


def judge(value: float, target: str | None, unit: str = "") -> bool | None:
    """Whether `value` (in `unit`) meets a target such as "≥ 0.5" or "≤ 100 ms"; None without one."""
    if target is None:
        return None
    match = _TARGET.match(target)
    if match is None:
        raise ValueError(f"cannot read target {target!r}; write it as '≥ 0.5' or '≤ 30 s'")
    op, number, target_unit = match.groups()
    bound = float(number.replace(",", "").replace("_", ""))
    if target_unit and unit and target_unit != unit:
        bound *= _SCALE.get((target_unit, unit), math.nan)
        if math.isnan(bound):
            raise ValueError(f"target unit {target_unit!r} does not convert to {unit!r}")
    if math.isnan(value):
        return False
    return value >= bound if op in ("≥", ">=") else value <= bound
