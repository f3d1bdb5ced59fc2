"""Reduced fault injection on the real broker and database: kills, intake's outbox, poison, replay, invariants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bench.chaos.scenario import REDUCED, Chaos, print_outcome
from bench.core import BenchStack
from bench.stack import Running
from shared.procs import ServiceGroup

pytestmark = pytest.mark.e2e


@pytest.fixture
async def running(
    env: dict[str, str], keys: dict[str, Any], prefix: str, database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Running]:
    stack = BenchStack(
        dsn=database_url, bootstrap=kafka_bootstrap, urls={}, keys=keys, topic_prefix=prefix, schema_prefix=prefix
    )
    group = ServiceGroup(env=env, log_dir=tmp_path / "logs")
    running = Running(stack=stack, group=group, env=env, workdir=tmp_path)
    try:
        for name in ("intake", "routing", "sla", "notify"):
            running.start_service(name)
        await running.wait_ready()
        yield running
    finally:
        group.stop_all()


async def test_nothing_lost_or_doubled_through_kills_poison_and_replay(running: Running) -> None:
    lines: list[str] = []
    outcome = await Chaos(running, REDUCED, say=lines.append).run()
    print_outcome(outcome, out=lines.append)
    report = "\n".join(lines)
    assert outcome.tally is not None, report
    assert outcome.tally.submitted > 0, report
    assert outcome.tally.lost == 0, report
    assert outcome.tally.doubled == 0, report
    assert outcome.tally.routed == outcome.tally.submitted, report
    assert outcome.failures == [], report
    # The intake kill really caught committed-but-unpublished events, and every poison was dead-lettered.
    steps = dict(outcome.steps)
    assert "intake SIGKILL between commit and publish" in steps, report
    assert "dead letters" in steps, report
    assert "dlq list / replay" in steps, report
