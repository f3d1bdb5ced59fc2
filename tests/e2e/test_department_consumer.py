"""The integration guide's department consumer (docs/examples/department_consumer.py) against a live stack."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.settings import REPO_ROOT
from tests.helpers import eventually, read_topic
from tests.integration.live_stack import four_services

pytestmark = pytest.mark.e2e
EXAMPLE = REPO_ROOT / "docs" / "examples" / "department_consumer.py"


def _example() -> ModuleType:
    """The guide's file itself, loaded by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("department_consumer", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _run_until(
    example: ModuleType, *, bootstrap: str, topic: str, group: str, store: Path, done: Callable[[Counter[str]], bool]
) -> Counter[str]:
    stats: Counter[str] = Counter()
    stop = asyncio.Event()
    db = example.open_store(str(store))
    task = asyncio.create_task(
        example.consume(bootstrap=bootstrap, topic=topic, group_id=group, db=db, stop=stop, stats=stats)
    )
    try:
        await eventually(lambda: _now(task, done(stats)), timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        db.close()
    return stats


async def _now(task: asyncio.Task[None], value: bool) -> bool:
    if task.done():
        task.result()  # the consumer died: show why
    return value


def _orders(store: Path, case_id: str) -> tuple[Any, ...] | None:
    db = sqlite3.connect(store)
    try:
        row: tuple[Any, ...] | None = db.execute(
            "SELECT category, events FROM work_orders WHERE case_id = ?", (case_id,)
        ).fetchone()
        return row
    finally:
        db.close()


async def test_the_guides_consumer_receives_its_departments_cases_once(
    make_settings: Callable[..., Any], keys: dict[str, Any], kafka_bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    example = _example()
    store = tmp_path / "work-orders.sqlite"
    async with four_services(make_settings) as stack:
        resp = await stack.intake.post(
            "/v1/needs",
            json={"category": "street_light_out", "description": "金融街3号楼前路灯不亮了", "community": "jinrongjie"},
        )
        assert resp.status_code == 202, resp.text
        case_id = resp.json()["case_id"]
        routed = await read_topic(
            kafka_bootstrap, f"{prefix}routing.events", until=lambda rs: any(r.key == case_id.encode() for r in rs)
        )
        department = orjson.loads(routed[-1].value)["data"]["assignee"]["code"]
        topic = f"{prefix}dept.{department}"
        # The department's topic: the routing and sla's three deadlines at least (sign-for, first feedback, resolution).
        on_topic = await read_topic(kafka_bootstrap, topic, until=lambda rs: len(rs) >= 4, timeout=30)
        assert {r.key for r in on_topic} == {case_id.encode()}

        first = await _run_until(
            example,
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=f"{prefix}{department}-work-orders",
            store=store,
            done=lambda s: s["applied"] >= len(on_topic),
        )
        assert first["rejected"] == 0
        category, events = _orders(store, case_id) or (None, 0)
        assert category == "street_light_out"
        assert events == first["applied"]

        # Its group committed what it applied, after applying it.
        probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=f"{prefix}{department}-work-orders")
        await probe.start()
        try:
            await probe.topics()  # metadata, so the topic's partitions are known
            parts = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
            committed = [await probe.committed(tp) for tp in parts]
        finally:
            await probe.stop()
        assert sum(c or 0 for c in committed) >= len(on_topic)

        # A second reading from the start (a new group, as after losing offsets): nothing is applied twice.
        again = await _run_until(
            example,
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=f"{prefix}{department}-replay",
            store=store,
            done=lambda s: s["duplicates"] >= first["applied"],
        )
        assert again["applied"] == 0
        assert _orders(store, case_id) == (category, events)
