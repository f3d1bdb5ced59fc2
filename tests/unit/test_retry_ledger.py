"""What counts as one failure repeating, and the outbox's refusal of events the broker could never take."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from shared.errors import TooLarge, http_status
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.kafka import MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES
from shared.outbox import BatchOutbox, Outbox
from shared.retry import FailureLedger, is_transient, signature


def test_identical_failures_count_up_and_a_different_one_starts_again() -> None:
    ledger = FailureLedger()
    assert ledger.record("e1", OSError("bad row 17")) == 1
    assert ledger.record("e1", OSError("bad row 17")) == 2
    assert ledger.record("e2", OSError("bad row 17")) == 1  # per event
    assert ledger.record("e1", TimeoutError("slow")) == 1  # not the same failure
    assert ledger.record("e1", TimeoutError("slow")) == 2
    assert ledger.count("e1") == 2
    ledger.forget("e1")
    assert ledger.count("e1") == 0


def test_signature_is_type_and_text() -> None:
    assert signature(OSError("x")) == "OSError: x"
    assert signature(OSError("x")) != signature(ConnectionError("x"))


def test_statement_and_lock_timeouts_are_transient() -> None:
    assert is_transient(asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"))
    assert is_transient(asyncpg.exceptions.LockNotAvailableError("lock timeout"))


def _need(description: str) -> object:
    need = NeedSubmitted(
        case_id="c-1",
        category="street_light_out",
        description=description,
        community="jinrongjie",
        street="wanxing",
        submitted_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    return make_event(need, source="/test", subject="c-1", time=datetime(2026, 3, 2, tzinfo=UTC))


def test_the_outbox_limit_sits_below_the_producers() -> None:
    assert MAX_MESSAGE_BYTES < MAX_REQUEST_BYTES


def test_an_event_over_the_limit_is_refused_naming_the_body() -> None:
    outbox = Outbox(schema="s", topic_prefix="p_", max_message_bytes=2_000)
    assert outbox.message("intake.events", _need("x" * 500)).wire_size() <= 2_000  # type: ignore[arg-type]
    with pytest.raises(TooLarge) as refused:
        outbox.message("intake.events", _need("x" * 3_000))  # type: ignore[arg-type]
    assert http_status(refused.value) == 413
    assert refused.value.fields[0]["field"] == "body"
    assert "2000 bytes" in refused.value.message


async def test_a_batch_outbox_refuses_at_add_with_its_targets_limit() -> None:
    batch = BatchOutbox(Outbox(schema="s", topic_prefix="", max_message_bytes=2_000))
    with pytest.raises(TooLarge):
        await batch.add(None, "intake.events", _need("x" * 3_000))  # type: ignore[arg-type]
    assert batch.mark() == 0
