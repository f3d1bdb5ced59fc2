"""Message headers follow the CloudEvents Kafka binding, as the official SDK reads it (pure, no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import CloudEventValidationError
from cloudevents.v1 import kafka as ce_kafka_v1

from shared.events import CloudEvent, make_event, parse_event
from shared.events.binding import (
    DEAD_LETTER_TYPE,
    STRUCTURED_CONTENT_TYPE,
    dead_letter_headers,
    wire_headers,
)
from shared.events.intake import DuplicateLinked
from shared.outbox import Outbox

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def _event() -> tuple[Outbox, CloudEvent]:
    outbox = Outbox(schema="routing", topic_prefix="p_")
    data = DuplicateLinked(case_id="case-1", submission_id="sub-1", reporter_count=2, linked_at=AT)
    return outbox, make_event(data, source="/lastmeter/intake", subject="case-1", time=AT)


def _wire(stored: dict[str, str], key: str, value: bytes) -> ce_kafka.KafkaMessage:
    return ce_kafka.KafkaMessage(headers=dict(wire_headers(stored)), key=key.encode(), value=value)


def test_an_outbox_message_is_a_structured_cloudevent_with_no_ce_header() -> None:
    outbox, event = _event()
    message = outbox.message("intake.events", event)
    assert message.headers == {"content-type": STRUCTURED_CONTENT_TYPE}
    parsed = ce_kafka.from_kafka_event(_wire(message.headers, message.key, message.payload))
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_type() == "lastmeter.need.duplicate_linked"
    assert parsed.get_id() == message.event_id
    assert parsed.get_subject() == message.key == "case-1"
    assert parsed.get_data()["submission_id"] == "sub-1"
    # The 1.x API (cloudevents.v1.kafka, `cloudevents.kafka` before 2.0) reads it too.
    v1 = ce_kafka_v1.from_structured(
        ce_kafka_v1.KafkaMessage(dict(wire_headers(message.headers)), message.key, message.payload)
    )
    assert v1["type"] == "lastmeter.need.duplicate_linked"
    assert v1["subject"] == "case-1"


def test_an_old_style_row_goes_out_structured_without_its_ce_type() -> None:
    _, event = _event()
    body = event.to_bytes()
    old = {"ce_type": "lastmeter.need.duplicate_linked"}
    # As it used to be published: the SDK takes the lone ce_ header for binary mode and fails.
    with pytest.raises(CloudEventValidationError, match="source"):
        ce_kafka.from_kafka_event(ce_kafka.KafkaMessage(headers={"ce_type": b"x"}, key=b"case-1", value=body))
    assert wire_headers(old) == [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
    assert ce_kafka.from_kafka_event(_wire(old, "case-1", body)).get_subject() == "case-1"
    # A replayed dead letter (`lastmeter dlq replay`) and a row with no headers at all.
    assert dict(wire_headers({"dlq_replayed_from": "7"})) == {
        "content-type": STRUCTURED_CONTENT_TYPE.encode(),
        "dlq_replayed_from": b"7",
    }
    assert wire_headers({}) == [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


def test_rows_that_name_their_content_type_go_out_as_stored() -> None:
    stored = {"content-type": "application/json", "ce_id": "x", "dlq_reason": "not-json"}
    assert dict(wire_headers(stored)) == {k: v.encode() for k, v in stored.items()}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"{not json", "application/octet-stream"), (b'{"type": "no.such"}', "application/json"), (b"", None)],
)
def test_a_dead_letter_is_a_binary_cloudevent_around_the_unchanged_bytes(body: bytes, content_type: str | None) -> None:
    dlq = {"dlq_reason": "not-json", "dlq_topic": "p_intake.events", "dlq_offset": "4"}
    headers = dead_letter_headers(
        source="/lastmeter/routing.decide",
        event_id="p_intake.events:0:4",
        time=AT,
        subject="case-9",
        body=body,
        dlq=dlq,
    )
    assert headers["content-type"] == (content_type or "application/octet-stream")
    assert {k: headers[k] for k in dlq} == dlq
    parsed = ce_kafka.from_kafka_event(
        ce_kafka.KafkaMessage(headers={k: v.encode() for k, v in headers.items()}, key=b"case-9", value=body)
    )
    assert parsed.get_specversion() == "1.0"
    assert parsed.get_type() == DEAD_LETTER_TYPE
    assert parsed.get_id() == "p_intake.events:0:4"
    assert parsed.get_source() == "/lastmeter/routing.decide"
    assert parsed.get_subject() == "case-9"
    assert parsed.get_time() == AT


def test_consumers_read_the_body_whatever_the_headers() -> None:
    _, event = _event()
    envelope, payload = parse_event(event.to_bytes())
    assert envelope.id == event.id
    assert isinstance(payload, DuplicateLinked)
