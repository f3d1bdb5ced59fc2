"""What every benchmark module shares: the running stack it measures and the figures it reports.

`make bench` brings the stack up once and runs every `bench/measure_*.py` module's
`async def measure(stack: BenchStack) -> list[Figure]` in turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BenchStack:
    """The system under test: embedded broker and PostgreSQL, the four services as processes."""

    dsn: str
    bootstrap: str
    urls: dict[str, str]  # service name -> base URL, e.g. {"intake": "http://127.0.0.1:8001", ...}
    keys: dict[str, Any]  # demo keys, as in .lastmeter/demo-keys.json
    topic_prefix: str = ""
    schema_prefix: str = ""
    quick: bool = False  # `make bench QUICK=1`: reduced sizes, whole run under 2 minutes
    pids: dict[str, int] = field(default_factory=dict)  # service name -> process id (for memory readings)


@dataclass
class Figure:
    """One measured number, and what it is compared with."""

    name: str
    value: float
    unit: str
    target: str | None = None  # e.g. "≤ 30 s", "≥ 0.5"
    met: bool | None = None  # None when the figure has no target
    note: str = ""
