"""Routing's reactions to intake's events: the HANDLERS table; the workflow lives in the service layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.routing.cases import service_layer
from services.routing.cases import store as cases_store
from services.routing.cases.service_layer import RoutingBatch
from services.routing.cases.service_layer.dispatch import Tx
from services.routing.cases.store import CaseStore
from services.routing.runtime import RoutingRuntime
from shared.catalogue import Catalogue
from shared.events import CloudEvent, EventData
from shared.events.intake import FeedbackReceived, NeedSubmitted
from shared.handlers import ConsumerSpec, HandlerContext, HandlerTable, handler_spec
from shared.topics import INTAKE_EVENTS

# One consumer, so a case's need and feedback stay in order; its name is the consumer group's suffix.
CONSUMER = "decide"
BATCH_KEY = "routing"


@dataclass(frozen=True)
class RoutingDeps:
    """What routing's handlers need: the catalogue in force, read on every event."""

    catalogue: Callable[[], Catalogue]
    # The case SQL the handlers run in the batch transaction (an in-memory twin in unit tests).
    store: CaseStore = field(default=cases_store)

    @classmethod
    def of(cls, rt: RoutingRuntime) -> RoutingDeps:
        """The handlers' view of the runtime (catalogue changes apply at once)."""
        return cls(catalogue=lambda: rt.catalogue)


Ctx = HandlerContext[RoutingDeps]


def tx_of(ctx: Ctx, envelope: CloudEvent | None = None) -> Tx:
    """The batch transaction as the service layer's Tx (events carry the trace of `envelope`)."""
    trace_id = (envelope.traceid or envelope.id) if envelope is not None else None
    return Tx(
        conn=ctx.conn,
        outbox=ctx.outbox,
        catalogue=ctx.deps.catalogue(),
        now=ctx.clock.now(),
        trace_id=trace_id,
        store=ctx.deps.store,
    )


def batch_of(ctx: Ctx) -> RoutingBatch:
    """This transaction's new cases and pending decisions."""
    return ctx.scratch(BATCH_KEY, RoutingBatch)


async def prepare(ctx: Ctx, events: Sequence[tuple[CloudEvent, EventData]]) -> None:
    """Record every new case of the batch in one statement."""
    needs = [need for _, need in events if isinstance(need, NeedSubmitted)]
    await service_layer.record_new_cases(tx_of(ctx), batch_of(ctx), needs)


async def flush(ctx: Ctx) -> None:
    """Write the batch's routing decisions in one statement."""
    await service_layer.write_decisions(tx_of(ctx), batch_of(ctx))


async def on_need_submitted(ctx: Ctx, envelope: CloudEvent, need: NeedSubmitted) -> None:
    """Decide who acts and publish `case routed`."""
    decision = await service_layer.route_need(tx_of(ctx, envelope), batch_of(ctx), need)
    if decision is not None:
        ctx.log.info("case routed", assignee=f"{decision.assignee.kind}:{decision.assignee.code}", rule=decision.rule)


async def on_feedback(ctx: Ctx, envelope: CloudEvent, feedback: FeedbackReceived) -> None:
    """The resident's callback closes the case or reopens it to its last assignee."""
    applied = await service_layer.apply_feedback(tx_of(ctx, envelope), batch_of(ctx), feedback)
    if applied.outcome == "stale":
        ctx.log.info("stale feedback ignored", round=feedback.round, status=applied.status)


HANDLERS: HandlerTable[RoutingDeps] = {
    NeedSubmitted: on_need_submitted,
    FeedbackReceived: on_feedback,
}


def consumers(rt: RoutingRuntime) -> list[ConsumerSpec[RoutingDeps]]:
    """What routing consumes."""
    return [handler_spec(CONSUMER, [INTAKE_EVENTS], HANDLERS, deps=RoutingDeps.of(rt), prepare=prepare, flush=flush)]
