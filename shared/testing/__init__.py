"""In-memory seams for unit tests: a unit of work, an outbox and a producer that record, a handler context."""

from shared.testing.memory import (
    FakeOutbox,
    FakeProducer,
    InMemoryTransaction,
    InMemoryUnitOfWork,
    NoConnection,
    handler_context,
)
from shared.testing.tables import mismatched_handlers

__all__ = [
    "FakeOutbox",
    "FakeProducer",
    "InMemoryTransaction",
    "InMemoryUnitOfWork",
    "NoConnection",
    "handler_context",
    "mismatched_handlers",
]
