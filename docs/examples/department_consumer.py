"""A department's own system reading its lastmeter topic, `dept.<code>` (see docs/integration.md).

    pip install aiokafka cloudevents
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 DEPARTMENT=urban_mgmt python department_consumer.py

Its own consumer group, the CloudEvents SDK to read each message, its own effect (a work-order
table in SQLite) and the event's (source, id) written in one transaction, offsets committed only
after that: at-least-once delivery with nothing done twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections import Counter

from aiokafka import AIOKafkaConsumer
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

SCHEMA = """
CREATE TABLE IF NOT EXISTS handled (source TEXT, id TEXT, PRIMARY KEY (source, id));
CREATE TABLE IF NOT EXISTS work_orders (
    case_id TEXT PRIMARY KEY, category TEXT, last_event TEXT NOT NULL, events INTEGER NOT NULL, updated_at TEXT
);
CREATE TABLE IF NOT EXISTS rejected (topic TEXT, partition INTEGER, "offset" INTEGER, error TEXT);
"""


def open_store(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def apply(db: sqlite3.Connection, event: BaseCloudEvent) -> bool:
    """The department's own effect of one event; False if this event was applied before."""
    with db:  # one transaction: the effect and the event id commit together, or neither does
        seen = db.execute("INSERT OR IGNORE INTO handled VALUES (?, ?)", (event.get_source(), event.get_id()))
        if seen.rowcount == 0:
            return False  # redelivered (at-least-once): changes nothing
        data = event.get_data() or {}
        if event.get_type().startswith(("lastmeter.case.", "lastmeter.sla.", "lastmeter.need.")):
            when = event.get_time()
            db.execute(
                "INSERT INTO work_orders VALUES (?, ?, ?, 1, ?) ON CONFLICT (case_id) DO UPDATE SET "
                "last_event = excluded.last_event, events = events + 1, "
                "category = coalesce(excluded.category, category), updated_at = excluded.updated_at",
                (event.get_subject(), data.get("category"), event.get_type(), when.isoformat() if when else None),
            )
        # Other types are ignored: lastmeter may add new ones.
    return True


async def consume(
    *, bootstrap: str, topic: str, group_id: str, db: sqlite3.Connection, stop: asyncio.Event, stats: Counter[str]
) -> None:
    """Read `topic` with our own group until `stop` is set, committing after each batch's effects."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,  # our own group: lastmeter's consumers and other departments never share it
        enable_auto_commit=False,  # commit only what we have applied
        auto_offset_reset="earliest",  # a new group starts with the topic's first event
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for partition, records in batches.items():
                for record in records:
                    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
                    try:
                        event = from_kafka_event(message)  # structured or binary, as the binding says
                    except Exception as exc:  # not a CloudEvent: keep it aside, do not block the partition
                        with db:
                            db.execute(
                                "INSERT INTO rejected VALUES (?, ?, ?, ?)",
                                (record.topic, record.partition, record.offset, repr(exc)[:500]),
                            )
                        stats["rejected"] += 1
                        continue
                    stats["applied" if apply(db, event) else "duplicates"] += 1
                await consumer.commit({partition: records[-1].offset + 1})
    finally:
        await consumer.stop()


async def main() -> None:
    department = os.environ["DEPARTMENT"]
    prefix = os.environ.get("LASTMETER_TOPIC_PREFIX", "")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    stats: Counter[str] = Counter()
    await consume(
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        topic=f"{prefix}dept.{department}",
        group_id=os.environ.get("GROUP_ID", f"{department}-work-orders"),
        db=open_store(os.environ.get("STORE", f"{department}-work-orders.sqlite")),
        stop=stop,
        stats=stats,
    )
    print(dict(stats))


if __name__ == "__main__":
    asyncio.run(main())
