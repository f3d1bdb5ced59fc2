"""Intake's use cases: turn a validated need into a stored case plus its outgoing event."""

from __future__ import annotations

import uuid

import asyncpg

from services.intake import store
from services.intake.models import NeedAccepted, NeedIn
from shared.auth import issue_access_token
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.events import make_event
from shared.events.intake import NeedSubmitted
from shared.http import field_error
from shared.outbox import Outbox
from shared.topics import INTAKE_EVENTS


def check_references(need: NeedIn, catalogue: Catalogue) -> str:
    """Validate catalogue codes; return the street office of the community."""
    if catalogue.category(need.category) is None:
        valid = ", ".join(c.code for c in catalogue.categories)
        raise field_error("category", f"unknown category {need.category!r}; valid codes: {valid}")
    street = catalogue.street_of_community(need.community)
    if street is None:
        valid = ", ".join(c.code for c in catalogue.communities)
        raise field_error("community", f"unknown community {need.community!r}; valid codes: {valid}")
    return street.code


async def submit_need(
    *, pool: asyncpg.Pool, outbox: Outbox, catalogue: Catalogue, clock: Clock, need: NeedIn, secret: str
) -> NeedAccepted:
    """Store the case and its `need submitted` event in one transaction."""
    street = check_references(need, catalogue)
    now = clock.now()
    case_id = str(uuid.uuid4())
    event = NeedSubmitted(
        case_id=case_id,
        category=need.category,
        description=need.description,
        community=need.community,
        street=street,
        grid=need.grid,
        location=need.location,
        address=need.address,
        reporter_kind=need.reporter.kind,
        priority=need.priority,
        vulnerable=need.vulnerable,
        pairing_id=need.pairing_id,
        language=need.language,
        submitted_at=now,
    )
    row = event.model_dump()
    row.update(lat=need.location.lat if need.location else None, lon=need.location.lon if need.location else None)
    contact = need.reporter.model_dump(exclude={"kind"}, exclude_none=True)
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_case(conn, case=row, contact=contact)
        await outbox.add(conn, INTAKE_EVENTS, make_event(event, source="/lastmeter/intake", subject=case_id, time=now))
    return NeedAccepted(case_id=case_id, status="submitted", access_token=issue_access_token(case_id, secret))
