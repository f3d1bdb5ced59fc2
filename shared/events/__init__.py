"""Every lastmeter event: the CloudEvents envelope and one payload model per event type.

Importing this package registers all types, so `parse_event` knows them.
"""

from shared.events import intake, routing, sla  # noqa: F401 - imported to register types
from shared.events.common import Assignee, Location
from shared.events.envelope import (
    CloudEvent,
    EventData,
    PoisonMessage,
    known_types,
    make_event,
    parse_event,
    register,
)

__all__ = [
    "Assignee",
    "CloudEvent",
    "EventData",
    "Location",
    "PoisonMessage",
    "known_types",
    "make_event",
    "parse_event",
    "register",
]
