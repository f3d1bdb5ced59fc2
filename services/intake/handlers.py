"""Intake's reactions to other services' events: keep the resident-facing status current."""

from __future__ import annotations

from services.intake import store
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, PoisonMessage
from shared.events.routing import CaseRouted
from shared.topics import ROUTING_EVENTS


async def on_case_routed(ctx: HandlerContext, envelope: CloudEvent, event: CaseRouted) -> None:
    """The case has an assignee: show it to the resident."""
    changed = await store.set_status(
        ctx.conn,
        case_id=event.case_id,
        status="routed",
        at=event.routed_at,
        now=ctx.clock.now(),
        assignee_kind=event.assignee.kind,
        assignee_code=event.assignee.code,
    )
    if changed is None:
        raise PoisonMessage("unknown-case", f"intake has no case {event.case_id}")
    await store.add_timeline(
        ctx.conn,
        case_id=event.case_id,
        at=event.routed_at,
        status="routed",
        note=f"{event.assignee.kind}:{event.assignee.code}",
        event_id=envelope.id,
    )


def consumers() -> list[ConsumerSpec]:
    """What intake consumes."""
    return [ConsumerSpec(name="status", topics=[ROUTING_EVENTS], handlers={CaseRouted: on_case_routed})]
