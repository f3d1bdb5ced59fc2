"""Changing the catalogue: validate all of it, bump the version, store it and announce it in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.routing.catalogue import store
from services.routing.catalogue.changes import InvalidCatalogue, base_version, same_content, summarise
from services.routing.runtime import RoutingUoW
from shared.catalogue import Catalogue, CatalogueError, parse_catalogue
from shared.clock import Clock
from shared.errors import Conflict
from shared.events import make_event
from shared.events.routing import CatalogueChanged
from shared.topics import CATALOGUE_EVENTS

SOURCE = "/lastmeter/routing/catalogue"
SUBJECT = "catalogue"  # one key: every version lands on one partition, in order


async def change(
    uow: RoutingUoW,
    *,
    data: Mapping[str, Any],
    changed_by: str,
    in_force: Callable[[], Catalogue],
    apply: Callable[[Catalogue], None],
    clock: Clock,
    lock_key: str,
) -> tuple[Catalogue, dict[str, Any], bool]:
    """Apply a new catalogue: (catalogue in force, summary of changes, whether anything changed).

    `version` in the body, when given, must be the version the edit started from (409 otherwise),
    so two operators cannot silently overwrite each other. The new version is the current one + 1.
    """
    async with uow.begin() as t:
        # One change at a time across every routing process; the version counter lives in this schema.
        await store.lock_changes(t.conn, key=lock_key)
        stored = await store.latest(t.conn)
        running = in_force()
        current = stored if stored is not None and stored.version > running.version else running
        base = base_version(data.get("version"))
        if base is not None and base != current.version:
            raise Conflict(
                f"the catalogue changed since version {base}: it is now version {current.version}; "
                "fetch it again and re-apply your edit",
                code="version_conflict",
                current_version=current.version,
            )
        try:
            new = parse_catalogue({**data, "version": current.version + 1})
        except CatalogueError as err:
            raise InvalidCatalogue([(p.location, p.message) for p in err.problems]) from None
        if same_content(current, new):
            return current, {}, False
        summary = summarise(current, new)
        now = clock.now()
        await store.add_version(t.conn, current)  # the starting version (a file) joins the history on the first change
        await store.add_version(t.conn, new)
        await store.add_change(t.conn, new=new, changed_by=changed_by, changed_at=now, summary=summary)
        event = CatalogueChanged(
            version=new.version,
            fingerprint=new.fingerprint,
            catalogue=new.to_dict(),
            changed_by=changed_by,
            changed_at=now,
        )
        await t.publish(CATALOGUE_EVENTS, make_event(event, source=SOURCE, subject=SUBJECT, time=now))
    apply(new)  # this process at once; every other process through catalogue_sync
    return new, summary, True


async def versions(uow: RoutingUoW, *, in_force: Catalogue) -> list[dict[str, Any]]:
    """Every stored version, newest first, with who changed it and what changed."""
    async with uow.begin() as t:
        out = await store.versions(t.conn)
    if not any(r["version"] == in_force.version for r in out):
        # The version the process started from (its catalogue file) is not stored until changed.
        out.append(
            {
                "version": in_force.version,
                "fingerprint": in_force.fingerprint,
                "changed_by": None,
                "changed_at": None,
                "summary": {},
            }
        )
        out.sort(key=lambda r: -r["version"])
    return out
