"""A logger cached while sys.stderr was a since-closed stream keeps working (pytest's capsys does that)."""

from __future__ import annotations

import io
import sys

import pytest
import structlog

from shared.logging import configure_logging


def test_a_logger_cached_on_a_closed_stderr_writes_to_the_current_one(monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(service="t", json=True)
    log = structlog.get_logger("t")
    log.info("first")  # cached now, while sys.stderr is `first`
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("second")
    assert '"event": "second"' in second.getvalue()
