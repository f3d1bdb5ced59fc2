"""A consumer's dead letters: the row operators list and replay, and the binary-mode CloudEvent for the topic."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog
from aiokafka import ConsumerRecord

from shared.events import PoisonMessage
from shared.events.binding import dead_letter_headers
from shared.outbox import Outbox, OutgoingMessage

log = structlog.get_logger(__name__)


async def record_dead_letters(
    conn: asyncpg.Connection,
    dead: list[tuple[ConsumerRecord, PoisonMessage]],
    *,
    outbox: Outbox,
    consumer: str,
    source: str,
    topic: str,
    time: datetime,
) -> None:
    """Write each dead letter's row and queue its message to `topic`, once per original coordinates."""
    messages = []
    for record, poison in dead:
        log.warning(
            "dead-lettered",
            reason=poison.reason,
            detail=poison.detail[:200],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        inserted = await conn.fetchval(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", key, payload, reason, detail) '
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
            consumer,
            record.topic,
            record.partition,
            record.offset,
            record.key.decode(errors="replace") if record.key else None,
            record.value,
            poison.reason,
            poison.detail,
        )
        if inserted is None:
            continue  # dead-lettered on an earlier delivery already
        messages.append(dead_letter_message(record, poison, consumer=consumer, source=source, topic=topic, time=time))
    await outbox.add_messages(conn, messages)


def dead_letter_message(
    record: ConsumerRecord, poison: PoisonMessage, *, consumer: str, source: str, topic: str, time: datetime
) -> OutgoingMessage:
    """The failed message's bytes unchanged, as a binary-mode CloudEvent saying why and where from."""
    key = record.key.decode(errors="replace") if record.key else ""
    event_id = f"{record.topic}:{record.partition}:{record.offset}"
    headers = dead_letter_headers(
        source=source,
        event_id=event_id,
        time=time,
        subject=key or None,
        body=record.value,
        dlq={
            "dlq_reason": poison.reason,
            "dlq_detail": poison.detail[:500],
            "dlq_consumer": consumer,
            "dlq_topic": record.topic,
            "dlq_partition": str(record.partition),
            "dlq_offset": str(record.offset),
        },
    )
    return OutgoingMessage(topic=topic, key=key, event_id=event_id, payload=record.value or b"", headers=headers)
