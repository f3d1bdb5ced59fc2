"""Case facts declared once: what a case is and where, shared by every event that carries them."""

from __future__ import annotations

from shared.events.common import Location
from shared.events.envelope import EventData


class CaseFacts(EventData):
    """What and where a case is. Subclasses add their own fields after these (JSON order is kept)."""

    case_id: str
    category: str | None
    description: str
    community: str
    street: str
    grid: str | None = None
    location: Location | None = None
    address: str | None = None
