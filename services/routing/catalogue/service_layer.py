"""Changing the catalogue: validate all of it, bump the version, store it and announce it in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared.catalogue import Catalogue, CatalogueError, parse_catalogue, read_catalogue_text
from shared.catalogue_sync import latest_stored, store_version
from shared.events import make_event
from shared.events.routing import CatalogueChanged
from shared.http import ApiError
from shared.service import ServiceRuntime
from shared.topics import CATALOGUE_EVENTS

SOURCE = "/lastmeter/routing/catalogue"
SUBJECT = "catalogue"  # one key: every version lands on one partition, in order
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
_LISTS = ("calendars", "sla_classes", "street_offices", "communities", "departments", "teams", "pairings", "categories")


def parse_body(raw: bytes, content_type: str) -> Mapping[str, Any]:
    """The request body as plain data: JSON or YAML by content type (YAML when none is given)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media and media not in JSON_TYPES + YAML_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the catalogue as JSON ({', '.join(JSON_TYPES)}) or YAML ({', '.join(YAML_TYPES)})",
            fields=[{"field": "Content-Type", "message": f"{media} is not accepted"}],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid([("(body)", "not UTF-8 text")]) from None
    if media in JSON_TYPES:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise invalid([("(body)", f"invalid JSON: {exc}")]) from None
    else:
        try:
            data = read_catalogue_text(text)
        except CatalogueError as err:
            raise invalid([(p.location, p.message) for p in err.problems]) from None
    if not isinstance(data, Mapping):
        raise invalid([("(root)", "the catalogue must be a mapping")])
    return data


def invalid(problems: list[tuple[str, str]]) -> ApiError:
    """A 422 listing every problem with its location; nothing was applied."""
    return ApiError(
        422,
        "invalid_catalogue",
        f"the catalogue has {len(problems)} problem(s); nothing was applied",
        fields=[{"field": loc, "message": msg} for loc, msg in problems],
    )


def summarise(old: Catalogue, new: Catalogue) -> dict[str, dict[str, list[str]]]:
    """Per list, the codes added, removed and changed (lists without changes are left out)."""
    out: dict[str, dict[str, list[str]]] = {}
    before, after = old.to_dict(), new.to_dict()
    for key in _LISTS:
        a = {i["code"]: i for i in before.get(key, [])}
        b = {i["code"]: i for i in after.get(key, [])}
        diff = {
            "added": sorted(set(b) - set(a)),
            "removed": sorted(set(a) - set(b)),
            "changed": sorted(c for c in set(a) & set(b) if a[c] != b[c]),
        }
        if any(diff.values()):
            out[key] = {k: v for k, v in diff.items() if v}
    others = [k for k in after if k not in (*_LISTS, "version") and before.get(k) != after.get(k)]
    if others:
        out["settings"] = {"changed": sorted(others)}
    return out


def same_content(a: Catalogue, b: Catalogue) -> bool:
    """Equal apart from the version number."""
    return {**a.to_dict(), "version": 0} == {**b.to_dict(), "version": 0}


async def change(
    rt: ServiceRuntime, *, data: Mapping[str, Any], changed_by: str
) -> tuple[Catalogue, dict[str, Any], bool]:
    """Apply a new catalogue: (catalogue in force, summary of changes, whether anything changed).

    `version` in the body, when given, must be the version the edit started from (409 otherwise),
    so two operators cannot silently overwrite each other. The new version is the current one + 1.
    """
    async with rt.pool.acquire() as conn, conn.transaction():
        # One change at a time across every routing process; the version counter lives in this schema.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{rt.settings.db_schema}:catalogue")
        stored = await latest_stored(conn)  # type: ignore[arg-type]
        current = stored if stored is not None and stored.version > rt.catalogue.version else rt.catalogue
        base = data.get("version")
        if base is not None and (isinstance(base, bool) or not isinstance(base, int)):
            raise invalid([("version", f"must be the whole number of the version you edited (got {base!r})")])
        if base is not None and base != current.version:
            raise ApiError(
                409,
                "version_conflict",
                f"the catalogue changed since version {base}: it is now version {current.version}; "
                "fetch it again and re-apply your edit",
                current_version=current.version,
            )
        try:
            new = parse_catalogue({**data, "version": current.version + 1})
        except CatalogueError as err:
            raise invalid([(p.location, p.message) for p in err.problems]) from None
        if same_content(current, new):
            return current, {}, False
        summary = summarise(current, new)
        now = rt.clock.now()
        await store_version(conn, current)  # the starting version (a file) joins the history on the first change
        await store_version(conn, new)
        await conn.execute(
            "INSERT INTO catalogue_changes (version, fingerprint, changed_by, changed_at, summary) "
            "VALUES ($1, $2, $3, $4, $5::jsonb)",
            new.version,
            new.fingerprint,
            changed_by,
            now,
            orjson.dumps(summary).decode(),
        )
        event = CatalogueChanged(
            version=new.version,
            fingerprint=new.fingerprint,
            catalogue=new.to_dict(),
            changed_by=changed_by,
            changed_at=now,
        )
        await rt.outbox.add(conn, CATALOGUE_EVENTS, make_event(event, source=SOURCE, subject=SUBJECT, time=now))
    rt.apply_catalogue(new)  # this process at once; every other process through catalogue_sync
    return new, summary, True


async def versions(rt: ServiceRuntime) -> list[dict[str, Any]]:
    """Every stored version, newest first, with who changed it and what changed."""
    rows = await rt.pool.fetch(
        "SELECT v.version, v.fingerprint, c.changed_by, c.changed_at, COALESCE(c.summary, '{}'::jsonb) AS summary "
        "FROM catalogue_versions v LEFT JOIN catalogue_changes c USING (version) ORDER BY v.version DESC"
    )
    out = [
        {**dict(r), "summary": orjson.loads(r["summary"]) if isinstance(r["summary"], str) else r["summary"]}
        for r in rows
    ]
    if not any(r["version"] == rt.catalogue.version for r in out):
        # The version the process started from (its catalogue file) is not stored until changed.
        out.append(
            {
                "version": rt.catalogue.version,
                "fingerprint": rt.catalogue.fingerprint,
                "changed_by": None,
                "changed_at": None,
                "summary": {},
            }
        )
        out.sort(key=lambda r: -r["version"])
    return out
