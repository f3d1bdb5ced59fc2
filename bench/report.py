"""Turn figures into the printed table, the results JSON and the PNG chart."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.core import Figure


def fmt_value(value: float) -> str:
    """A readable number: thousands separators for large ones, three significant digits for small."""
    if math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_met(met: bool | None) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def table(figures: Sequence[Figure]) -> str:
    """A plain-text table: figure, value, unit, target, met, note."""
    rows = [("figure", "value", "unit", "target", "met", "note")]
    rows += [(f.name, fmt_value(f.value), f.unit, f.target or "", fmt_met(f.met), f.note) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].rjust(widths[1]), *(r[i].ljust(widths[i]) for i in range(2, 5)), r[5]]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(figures: Sequence[Figure]) -> str:
    """The same table in Markdown, for docs/bench.md."""
    lines = ["| figure | value | unit | target | met | note |", "| --- | ---: | --- | --- | --- | --- |"]
    for f in figures:
        note = f.note.replace("|", "/")
        lines.append(f"| {f.name} | {fmt_value(f.value)} | {f.unit} | {f.target or ''} | {fmt_met(f.met)} | {note} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    with contextlib.suppress(OSError, IndexError, subprocess.TimeoutExpired):
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=5).stdout.splitlines()[1]

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": " ".join(mem.split()),
        "python": platform.python_version(),
    }


def to_json(figures: Sequence[Figure], *, meta: dict[str, Any]) -> str:
    """The results document: run metadata plus every figure (NaN written as null)."""
    rows = []
    for f in figures:
        row = asdict(f)
        if isinstance(row["value"], float) and math.isnan(row["value"]):
            row["value"] = None
        rows.append(row)
    return json.dumps({**meta, "figures": rows}, indent=2, ensure_ascii=False)


def chart(figures: Sequence[Figure], path: Path, *, title: str) -> Path | None:
    """Rates beside their limits and latencies beside their targets, as one PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    groups = [
        ("requests/s (HTTP)", [f for f in figures if f.unit == "req/s"]),
        ("messages, rows or needs /s", [f for f in figures if f.unit in ("msg/s", "rows/s", "commits/s", "needs/s")]),
        ("latency (ms)", [f for f in figures if f.unit == "ms"]),
        ("ratios (×) and drain time (s)", [f for f in figures if f.unit in ("×", "s")]),
    ]
    groups = [(t, [f for f in fs if not math.isnan(f.value)]) for t, fs in groups]
    groups = [(t, fs) for t, fs in groups if fs]
    if not groups:
        return None
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 2.2 + sum(0.42 * len(fs) + 0.8 for _, fs in groups)))
    axes = [axes] if len(groups) == 1 else list(axes)
    colour = {True: "#2e7d32", False: "#c62828", None: "#546e7a"}
    for ax, (heading, fs) in zip(axes, groups, strict=True):
        names = [f.name if f.unit not in ("×", "s") else f"{f.name} ({f.unit})" for f in fs]
        ax.barh(names, [f.value for f in fs], color=[colour[f.met] for f in fs])
        for i, f in enumerate(fs):
            label = fmt_value(f.value) + (f"  (target {f.target})" if f.target else "")
            ax.text(f.value, i, " " + label, va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_title(heading, fontsize=10, loc="left")
        ax.tick_params(axis="y", labelsize=8)
        ax.margins(x=0.35)
    fig.suptitle(title + "   (green: target met, red: not met, grey: limit or no target)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # leave the top strip to the title, clear of the first panel's
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
