"""Who an event concerns: pure rules from the case projection to audience topics and SSE scope."""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Principal
from shared.topics import audience_topic


@dataclass(frozen=True)
class Audience:
    """The owners of a case at the time of an event."""

    case_id: str
    street: str | None
    department: str | None
    team: str | None
    co_departments: tuple[str, ...] = ()

    def topics(self) -> list[str]:
        """The audience topics this event goes to (dept.<code>, team.<code>, street.<code>)."""
        topics = []
        if self.street:
            topics.append(audience_topic("street_office", self.street))
        for code in dict.fromkeys((self.department, *self.co_departments)):
            if code:
                topics.append(audience_topic("department", code))
        if self.team:
            topics.append(audience_topic("team", self.team))
        return topics

    def visible_to(self, principal: Principal) -> bool:
        return principal.can_see(
            case_id=self.case_id,
            street=self.street,
            department=self.department,
            team=self.team,
            departments=self.co_departments,
        )
