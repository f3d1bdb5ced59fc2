"""SLA's reactions: a routed case gets its response deadline."""

from __future__ import annotations

from datetime import timedelta

from services.sla import store
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, make_event
from shared.events.routing import CaseRouted
from shared.events.sla import DeadlineArmed
from shared.service import ServiceRuntime
from shared.topics import ROUTING_EVENTS, SLA_EVENTS

SOURCE = "/lastmeter/sla"
# Beijing 12345 practice: units sign for an order within 2 hours, around the clock.
DEFAULT_RESPONSE = timedelta(hours=2)


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """What sla consumes."""

    async def on_case_routed(ctx: HandlerContext, envelope: CloudEvent, routed: CaseRouted) -> None:
        """Arm the time-to-sign deadline for the new assignee."""
        sla_class = rt.catalogue.sla_class(routed.sla_class) if routed.sla_class else None
        window = sla_class.response if sla_class else DEFAULT_RESPONSE
        due = routed.routed_at + window  # signing runs 24x7, so plain addition is right here
        armed = await store.arm_deadline(
            ctx.conn,
            case_id=routed.case_id,
            street=routed.street,
            kind="response",
            attempt=routed.attempt,
            assignee=routed.assignee,
            sla_class=routed.sla_class,
            started_at=routed.routed_at,
            due_at=due,
        )
        if not armed:
            return
        event = DeadlineArmed(
            case_id=routed.case_id,
            kind="response",
            assignee=routed.assignee,
            sla_class=routed.sla_class,
            started_at=routed.routed_at,
            due_at=due,
        )
        await ctx.publish(
            SLA_EVENTS,
            make_event(event, source=SOURCE, subject=routed.case_id, time=ctx.clock.now(), trace_id=envelope.traceid),
        )

    return [ConsumerSpec(name="deadlines", topics=[ROUTING_EVENTS], handlers={CaseRouted: on_case_routed})]
