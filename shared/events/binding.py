"""The CloudEvents Kafka protocol binding: which headers a lastmeter message carries.

Every event is written in **structured** mode: the body is the JSON envelope and the only header
is `content-type: application/cloudevents+json; charset=utf-8` (no `ce_` header: under the
binding a `ce_` header means binary mode). A dead letter keeps the failed message's bytes as
they were, so it is written in **binary** mode instead: its CloudEvents attributes are `ce_`
headers, `content-type` says what the kept bytes are, and the `dlq_*` headers say why and where
from. Readers take any message either way; older ones with no `content-type` (and a lone
`ce_type`) are structured too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import orjson

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CONTENT_TYPE = "content-type"
CE_PREFIX = "ce_"
DEAD_LETTER_TYPE = "lastmeter.message.dead_lettered"
# The kept bytes of a dead letter: JSON (most poison is a well-formed envelope) or anything at all.
JSON_CONTENT_TYPE = "application/json"
OPAQUE_CONTENT_TYPE = "application/octet-stream"
# Why and where from, for operators (`lastmeter dlq`) and the chaos checks; not CloudEvents attributes.
DLQ_HEADERS = ("dlq_reason", "dlq_detail", "dlq_consumer", "dlq_topic", "dlq_partition", "dlq_offset")

_STRUCTURED_WIRE = [(CONTENT_TYPE, STRUCTURED_CONTENT_TYPE.encode())]


def structured_headers() -> dict[str, str]:
    """The headers of a structured-mode event message."""
    return {CONTENT_TYPE: STRUCTURED_CONTENT_TYPE}


def wire_headers(stored: Mapping[str, object]) -> list[tuple[str, bytes]]:
    """Kafka headers for an outbox row's stored headers.

    A row without `content-type` holds a structured envelope written before the binding was
    honoured (queued with a lone `ce_type`) or re-queued by `lastmeter dlq replay`: it goes out
    structured, its `ce_` headers dropped so no reader mistakes it for binary mode.
    """
    if not stored:
        return list(_STRUCTURED_WIRE)
    if CONTENT_TYPE in stored:
        return [(k, str(v).encode()) for k, v in stored.items()]
    kept = [(k, str(v).encode()) for k, v in stored.items() if not k.lower().startswith(CE_PREFIX)]
    return [*_STRUCTURED_WIRE, *kept]


def dead_letter_headers(
    *,
    source: str,
    event_id: str,
    time: datetime,
    subject: str | None,
    body: bytes | None,
    dlq: Mapping[str, str],
) -> dict[str, str]:
    """Binary-mode headers of a dead letter whose body is the failed message's bytes, unchanged."""
    headers = {
        CONTENT_TYPE: JSON_CONTENT_TYPE if _is_json(body) else OPAQUE_CONTENT_TYPE,
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": DEAD_LETTER_TYPE,
        "ce_time": time.isoformat().replace("+00:00", "Z"),
    }
    if subject:
        headers["ce_subject"] = subject
    headers.update(dlq)
    return headers


def _is_json(body: bytes | None) -> bool:
    if not body:
        return False
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True
