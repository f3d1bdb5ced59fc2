"""Notify's reactions: update the projection, fan each event out to its audiences."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.notify import store
from shared.consumer import ConsumerSpec, HandlerContext
from shared.events import CloudEvent, EventData
from shared.events.intake import NeedSubmitted
from shared.events.routing import CaseRouted
from shared.events.sla import DeadlineArmed
from shared.service import ServiceRuntime
from shared.topics import CASE_EVENT_TOPICS

# Per event type: which projection fields it sets.
Projector = Callable[[Any], dict[str, Any]]


def _submitted(e: NeedSubmitted) -> dict[str, Any]:
    return {
        "status": "submitted",
        "category": e.category,
        "community": e.community,
        "street": e.street,
        "submitted_at": e.submitted_at,
    }


def _routed(e: CaseRouted) -> dict[str, Any]:
    return {
        "status": "routed",
        "category": e.category,
        "community": e.community,
        "street": e.street,
        "assignee_kind": e.assignee.kind,
        "assignee_code": e.assignee.code,
        "co_departments": [c.code for c in e.co_handlers if c.kind == "department"],
        "submitted_at": e.submitted_at,
    }


def _armed(e: DeadlineArmed) -> dict[str, Any]:
    return {"sla_state": "on_track", "due_at": e.due_at}


PROJECTORS: dict[type[EventData], Projector] = {
    NeedSubmitted: _submitted,
    CaseRouted: _routed,
    DeadlineArmed: _armed,
}


def stream_channel(rt: ServiceRuntime) -> str:
    return f"{rt.settings.db_schema}_stream"


def make_fanout(
    rt: ServiceRuntime, projector: Projector
) -> Callable[[HandlerContext, CloudEvent, Any], Awaitable[None]]:
    """A handler: project the event, then queue it for each audience topic and the SSE stream."""

    async def fanout(ctx: HandlerContext, envelope: CloudEvent, payload: Any) -> None:
        await store.upsert_case(
            ctx.conn, case_id=envelope.subject, at=envelope.time, now=ctx.clock.now(), **projector(payload)
        )
        audience = await store.audience_of(ctx.conn, case_id=envelope.subject)
        for topic in audience.topics():
            await ctx.publish(topic, envelope)
        await store.append_stream(
            ctx.conn,
            event_id=envelope.id,
            case_id=envelope.subject,
            type_=envelope.type,
            audience=audience,
            envelope=envelope.model_dump(mode="json", exclude_none=True),
            channel=stream_channel(rt),
        )

    return fanout


def consumers(rt: ServiceRuntime) -> list[ConsumerSpec]:
    """Notify reads every case event topic."""
    return [
        ConsumerSpec(
            name="fanout",
            topics=list(CASE_EVENT_TOPICS),
            handlers={model: make_fanout(rt, projector) for model, projector in PROJECTORS.items()},
        )
    ]
