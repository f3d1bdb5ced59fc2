"""Routing's reactions: a submitted need gets an assignee."""

from __future__ import annotations

from services.routing import rules, store
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, make_event
from shared.events.intake import NeedSubmitted
from shared.events.routing import CaseRouted
from shared.service import ServiceRuntime
from shared.topics import INTAKE_EVENTS, ROUTING_EVENTS

SOURCE = "/lastmeter/routing"


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """What routing consumes."""

    async def on_need_submitted(ctx: HandlerContext, envelope: CloudEvent, need: NeedSubmitted) -> None:
        """Decide who acts and publish `case routed`."""
        now = ctx.clock.now()
        if not await store.insert_case(
            ctx.conn, case_id=need.case_id, need=need.model_dump(mode="json"), submitted_at=need.submitted_at, now=now
        ):
            return  # the same case arrived under another event id; it is routed already
        catalogue = rt.catalogue
        decision = rules.decide(
            rules.NeedFacts(
                category=need.category,
                community=need.community,
                street=need.street,
                vulnerable=need.vulnerable,
                pairing_id=need.pairing_id,
            ),
            catalogue,
        )
        attempt = await store.record_assignment(
            ctx.conn,
            case_id=need.case_id,
            assignee=decision.assignee,
            co_handlers=decision.co_handlers,
            reasons=decision.reasons,
            now=now,
        )
        category = catalogue.category(need.category) if need.category else None
        routed = CaseRouted(
            case_id=need.case_id,
            category=need.category,
            description=need.description,
            community=need.community,
            street=need.street,
            location=need.location,
            address=need.address,
            priority=need.priority,
            vulnerable=need.vulnerable,
            assignee=decision.assignee,
            co_handlers=list(decision.co_handlers),
            reasons=list(decision.reasons),
            attempt=attempt,
            sla_class=category.sla_class if category else None,
            submitted_at=need.submitted_at,
            routed_at=now,
        )
        await ctx.publish(
            ROUTING_EVENTS,
            make_event(routed, source=SOURCE, subject=need.case_id, time=now, trace_id=envelope.traceid or envelope.id),
        )
        ctx.log.info("case routed", assignee=f"{decision.assignee.kind}:{decision.assignee.code}")

    return [ConsumerSpec(name="decide", topics=[INTAKE_EVENTS], handlers={NeedSubmitted: on_need_submitted})]
