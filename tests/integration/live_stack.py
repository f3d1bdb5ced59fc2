"""All four services in-process on the real broker and PostgreSQL, and a reader of every topic at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notify.main import create_app as create_notify
from services.notify.settings import NotifySettings
from services.routing.main import create_app as create_routing
from services.routing.settings import RoutingSettings
from services.sla.main import create_app as create_sla
from services.sla.settings import SlaSettings
from tests.helpers import serving


@dataclass
class Stack:
    intake: httpx.AsyncClient
    routing: httpx.AsyncClient
    sla: httpx.AsyncClient
    notify: httpx.AsyncClient


@asynccontextmanager
async def four_services(make_settings: Callable[..., Any]) -> AsyncIterator[Stack]:
    """intake, routing, sla and notify, each with its consumers and outbox relay, under this test's prefix."""
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(serving(factory(make_settings(settings))))
            for factory, settings in (
                (create_intake, IntakeSettings),
                (create_routing, RoutingSettings),
                (create_sla, SlaSettings),
                (create_notify, NotifySettings),
            )
        ]
        yield Stack(*clients)


async def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    """Every topic of this deployment (the test's prefix)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


async def read_all(
    bootstrap: str,
    topics: list[str],
    *,
    until: Callable[[list[ConsumerRecord]], bool],
    quiet: float = 1.0,
    within: float = 30.0,
) -> list[ConsumerRecord]:
    """Every record of `topics` from the beginning, once `until` holds and nothing new came for `quiet` s.

    The dev broker's end offsets are wrong after batched produce, so "read to the end" means "until quiet".
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        await consumer.topics()  # fetches metadata of every topic, so their partitions are known
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last_new = loop.time()
        while not (until(records) and loop.time() - last_new >= quiet):
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {within}s; got {len(records)} records")
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
                last_new = loop.time()
    finally:
        await consumer.stop()
    return records
