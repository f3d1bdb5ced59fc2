"""Intake's core use case: a checked need becomes a new case or a link to an open one, with its events.

Every channel (native API, Open311, survey import) goes through `accept` + `flush`, inside the
transaction its own use case opened, so the case rows and their outbox rows commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from services.intake import store
from services.intake.duplicates import OpenCase, bounding_box, find_duplicate, normalise_place
from services.intake.need import Need
from services.intake.triage import classify
from shared.auth import generate_resident_token, hash_key, insert_resident_tokens
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.events import Location, make_event
from shared.events.intake import Classification, DuplicateLinked, NeedSubmitted
from shared.outbox import Outbox, OutgoingMessage
from shared.topics import INTAKE_EVENTS
from shared.uow import PgUnitOfWork

SOURCE = "/lastmeter/intake"
# Intake's stores are still module functions taking the connection: use cases open `uow.begin()`
# and hand `tx.conn` to them (docs/architecture.md); `tx.store` holds nothing yet.
IntakeUow: TypeAlias = PgUnitOfWork[None]


def no_store(_: store.Connection) -> None:
    """The per-transaction store of intake's unit of work: none yet (see IntakeUow)."""


@dataclass(frozen=True)
class Deps:
    """What the use cases need from the running service."""

    outbox: Outbox
    catalogue: Catalogue
    clock: Clock
    threshold: float
    auth_schema: str = "auth"  # where residents' access tokens are stored (shared/auth.py's schema)


@dataclass(frozen=True)
class Outcome:
    """What became of one submission."""

    case_id: str
    submission_id: str
    linked: bool
    status: str
    category: str | None
    classification: Classification | None
    reporter_count: int = 1
    # The reporter's own access token (shown once), when the channel hands one out.
    access_token: str | None = None


@dataclass
class Writes:
    """Rows and events gathered for one transaction; cases created here are visible to later needs."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # (hash, case, submission, at)
    messages: list[OutgoingMessage] = field(default_factory=list)
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # case_id -> row in `cases`
    # Filled by `prefetch` for a batch: category choice and duplicate candidates per need (by id),
    # and the reporter count and status of candidates already stored, bumped in memory until flush.
    chosen: dict[int, tuple[str | None, Classification | None]] = field(default_factory=dict)
    candidates: dict[int, list[OpenCase]] = field(default_factory=dict)
    known: dict[str, list[Any]] = field(default_factory=dict)
    bumps: dict[str, int] = field(default_factory=dict)


def choose_category(deps: Deps, need: Need) -> tuple[str | None, Classification | None]:
    """The need's own category, or the classifier's (None below the threshold) with how it decided."""
    if need.category is not None:
        return need.category, None
    choice = classify(deps.catalogue, need.description, deps.threshold)
    return choice.category, choice.classification


def lookup_for(deps: Deps, need: Need, category: str, now: datetime) -> store.Lookup | None:
    """The duplicate prefilter for a need, or None when it has nothing to compare but its community."""
    rules = deps.catalogue.category(category)
    address_key = normalise_place(need.address) or None
    has_point = need.lat is not None and need.lon is not None
    if rules is None or (not has_point and not address_key):
        return None  # the community alone is far too coarse (5,000 households) to merge needs
    return store.Lookup(
        category=category,
        since=now - rules.duplicate_window,
        box=bounding_box(need.lat, need.lon, rules.duplicate_radius_m)
        if need.lat is not None and need.lon is not None
        else None,
        community=need.community,
        address_key=address_key,
    )


async def prefetch(conn: store.Connection, *, deps: Deps, needs: list[Need], writes: Writes) -> None:
    """Choose categories and fetch duplicate candidates for a whole batch in one query (survey import, group commit)."""
    now = deps.clock.now()
    lookups: dict[int, store.Lookup] = {}
    for need in needs:
        category, classification = choose_category(deps, need)
        writes.chosen[id(need)] = (category, classification)
        lookup = lookup_for(deps, need, category, now) if category is not None else None
        if lookup is not None:
            lookups[id(need)] = lookup
        else:
            writes.candidates[id(need)] = []
    keys = list(lookups)  # ids of objects are not row numbers; SQL gets positions
    await store.lock_places(conn, ((lookup.category, lookup.community) for lookup in lookups.values()))
    found = await store.open_candidates_many(conn, lookups={i: lookups[k] for i, k in enumerate(keys)})
    for position, key in enumerate(keys):
        rows = found.get(position, [])
        writes.candidates[key] = [case for case, _, _ in rows]
        for case, count, status in rows:
            writes.known.setdefault(case.case_id, [count, status])


async def _duplicate_of(
    conn: store.Connection, *, deps: Deps, need: Need, category: str, now: datetime, writes: Writes
) -> OpenCase | None:
    """The open case (stored or created in this transaction) this need duplicates, if any."""
    rules = deps.catalogue.category(category)
    lookup = lookup_for(deps, need, category, now)
    if rules is None or lookup is None:
        return None
    stored = writes.candidates.get(id(need))
    if stored is None:
        await store.lock_places(conn, [(category, need.community)])
        stored = await store.open_candidates(conn, lookup=lookup)
    pending = [
        OpenCase(c["case_id"], category, c["lat"], c["lon"], c["community"], c["submitted_at"], c["address"])
        for c in writes.fresh.values()
        if c["category"] == category
    ]
    return find_duplicate(
        category=category,
        lat=need.lat,
        lon=need.lon,
        community=need.community,
        at=now,
        radius_m=rules.duplicate_radius_m,
        window=rules.duplicate_window,
        open_cases=[*stored, *pending],
        address=need.address,
    )


def _token(writes: Writes, *, case_id: str, submission_id: str, now: datetime) -> str:
    """A new random access token for one submission, its hash queued for this transaction."""
    token = generate_resident_token()
    writes.tokens.append((hash_key(token), case_id, submission_id, now))
    return token


async def accept(
    conn: store.Connection,
    *,
    deps: Deps,
    need: Need,
    writes: Writes,
    force_new: bool = False,
    issue_token: bool = False,
) -> Outcome:
    """Classify if needed, link to an open duplicate or open a new case; rows go to `writes`.

    With `issue_token` the reporter gets their own access token (the native API hands it out; a
    survey row or an Open311 request has no one to give it to).
    """
    now = deps.clock.now()
    chosen = writes.chosen.get(id(need))
    category, classification = chosen if chosen is not None else choose_category(deps, need)
    submission_id = str(uuid.uuid4())
    submission = {
        "submission_id": submission_id,
        "reporter_kind": need.reporter_kind,
        "source": need.source,
        "contact": need.contact,
        "created_at": now,
    }
    if category is not None and not force_new:
        original = await _duplicate_of(conn, deps=deps, need=need, category=category, now=now, writes=writes)
        if original is not None:
            linked = await _link(
                conn, deps=deps, need=need, original=original, submission_id=submission_id, now=now, writes=writes
            )
            if linked is not None:
                count, status = linked
                # A linked report keeps its own words and place: its reporter's view shows these.
                own = {
                    "description": need.description,
                    "address": need.address,
                    "lat": need.lat,
                    "lon": need.lon,
                    "grid": need.grid,
                    "vulnerable": need.vulnerable,
                }
                writes.submissions.append({**submission, **own, "case_id": original.case_id, "linked": True})
                token = (
                    _token(writes, case_id=original.case_id, submission_id=submission_id, now=now)
                    if issue_token
                    else None
                )
                return Outcome(original.case_id, submission_id, True, status, category, classification, count, token)
    case_id = str(uuid.uuid4())
    event = NeedSubmitted(
        case_id=case_id,
        category=category,
        description=need.description,
        community=need.community,
        street=need.street,
        grid=need.grid,
        location=Location(lat=need.lat, lon=need.lon) if need.lat is not None and need.lon is not None else None,
        address=need.address,
        reporter_kind=need.reporter_kind,
        priority=need.priority,
        vulnerable=need.vulnerable,
        pairing_id=need.pairing_id,
        language=need.language,
        classification=classification,
        submitted_at=now,
    )
    row = {
        "case_id": case_id,
        "category": category,
        "description": need.description,
        "community": need.community,
        "street": need.street,
        "grid": need.grid,
        "lat": need.lat,
        "lon": need.lon,
        "address": need.address,
        "address_id": need.address_id,
        "address_key": normalise_place(need.address) or None,
        "reporter_kind": need.reporter_kind,
        "priority": need.priority,
        "vulnerable": need.vulnerable,
        "pairing_id": need.pairing_id,
        "language": need.language,
        "contact": need.contact,
        "classification": classification.model_dump(mode="json") if classification else None,
        "attributes": need.attributes,
        "media_url": need.media_url,
        "source": need.source,
        "reported_at": need.reported_at,
        "submitted_at": now,
    }
    writes.cases.append(row)
    writes.fresh[case_id] = row
    writes.submissions.append({**submission, "case_id": case_id, "linked": False})
    writes.messages.append(
        deps.outbox.message(INTAKE_EVENTS, make_event(event, source=SOURCE, subject=case_id, time=now))
    )
    token = _token(writes, case_id=case_id, submission_id=submission_id, now=now) if issue_token else None
    return Outcome(case_id, submission_id, False, "submitted", category, classification, access_token=token)


async def _link(
    conn: store.Connection,
    *,
    deps: Deps,
    need: Need,
    original: OpenCase,
    submission_id: str,
    now: datetime,
    writes: Writes,
) -> tuple[int, str] | None:
    """Count one more reporter on the original and queue DuplicateLinked; None if it closed meanwhile."""
    pending = writes.fresh.get(original.case_id)
    known = writes.known.get(original.case_id)
    if pending is not None:
        pending["reporter_count"] = pending.get("reporter_count", 1) + 1
        count, status = pending["reporter_count"], "submitted"
    elif known is not None:
        # Prefetched in this transaction: count in memory, one UPDATE per case at flush.
        known[0] += 1
        writes.bumps[original.case_id] = writes.bumps.get(original.case_id, 0) + 1
        count, status = known[0], known[1]
    else:
        counted = await store.count_report(conn, case_id=original.case_id, now=now)
        if counted is None:
            return None
        count, status = counted["reporter_count"], counted["status"]
    event = DuplicateLinked(
        case_id=original.case_id,
        submission_id=submission_id,
        reporter_kind=need.reporter_kind,
        reporter_count=count,
        linked_at=now,
    )
    writes.messages.append(
        deps.outbox.message(INTAKE_EVENTS, make_event(event, source=SOURCE, subject=original.case_id, time=now))
    )
    return count, status


async def flush(conn: store.Connection, *, deps: Deps, writes: Writes) -> None:
    """Write the gathered rows and queue the gathered events, in the caller's transaction."""
    await store.insert_cases(conn, cases=writes.cases)
    await store.set_reporter_counts(
        conn, counts=[(c["case_id"], c["reporter_count"]) for c in writes.cases if c.get("reporter_count", 1) > 1]
    )
    await store.bump_reporter_counts(conn, bumps=list(writes.bumps.items()), now=deps.clock.now())
    await store.insert_submissions(conn, rows=writes.submissions)
    await insert_resident_tokens(conn, auth_schema=deps.auth_schema, rows=writes.tokens)
    await deps.outbox.add_messages(conn, writes.messages)
    for part in (writes.cases, writes.submissions, writes.tokens, writes.messages, writes.fresh, writes.chosen):
        part.clear()
    for other in (writes.candidates, writes.known, writes.bumps):
        other.clear()


async def accept_one(
    conn: store.Connection, *, deps: Deps, need: Need, force_new: bool = False, issue_token: bool = False
) -> Outcome:
    """Accept a single need and write it, in the caller's transaction."""
    writes = Writes()
    outcome = await accept(conn, deps=deps, need=need, writes=writes, force_new=force_new, issue_token=issue_token)
    await flush(conn, deps=deps, writes=writes)
    return outcome
