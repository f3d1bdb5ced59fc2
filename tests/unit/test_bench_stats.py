"""The bench's number work: percentiles, ratios and judging figures against targets."""

from __future__ import annotations

import math

import pytest

from bench.stats import judge, percentile, rate, ratio


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_nan_and_q_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_rate_and_ratio_refuse_to_divide_by_zero() -> None:
    assert rate(100, 2.0) == 50.0
    assert math.isnan(rate(100, 0.0))
    assert ratio(1.0, 4.0) == 0.25
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(1.0, math.nan))


@pytest.mark.parametrize(
    ("value", "target", "unit", "met"),
    [
        (0.6, "≥ 0.5", "×", True),
        (0.4, "≥ 0.5", "×", False),
        (29.9, "≤ 30 s", "s", True),
        (30.1, "≤ 30 s", "s", False),
        (99.0, "≤ 100 ms", "ms", True),
        (0.2, "≤ 100 ms", "s", False),
        (0.05, "≤ 100 ms", "s", True),
        (3334.0, ">= 3,334", "needs/s", True),
        (math.nan, "≥ 1", "", False),
    ],
)
def test_judge(value: float, target: str, unit: str, met: bool) -> None:
    assert judge(value, target, unit) is met


def test_judge_without_target_is_none_and_nonsense_is_refused() -> None:
    assert judge(1.0, None) is None
    with pytest.raises(ValueError, match="cannot read target"):
        judge(1.0, "fast")
    with pytest.raises(ValueError, match="does not convert"):
        judge(1.0, "≤ 3 MiB", "s")
