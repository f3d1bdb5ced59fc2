"""Bring a deployment to a usable state: topics, every schema migrated, API keys provisioned.

`lastmeter init` (compose's one-shot `init` service), `lastmeter run` and the test fixtures all
call `initialise`. Everything here is idempotent.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from shared.auth import Role, generate_key, hash_key, insert_key
from shared.catalogue import Catalogue
from shared.db import migrate
from shared.kafka import ensure_topics, wait_for_broker
from shared.topics import (
    AUDIENCE_PARTITIONS,
    CORE_TOPICS,
    DEADLETTER,
    DEADLETTER_PARTITIONS,
    PARTITIONS,
    audience_topic,
)

log = structlog.get_logger(__name__)

SERVICES = ("intake", "routing", "sla", "notify")
AUTH_MIGRATIONS = Path(__file__).parent / "auth_migrations"


def service_migrations(name: str) -> Path:
    """A service's migrations folder, wherever the package is installed."""
    spec = importlib.util.find_spec(f"services.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"service package services.{name} not found")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def all_topics(catalogue: Catalogue, *, prefix: str = "") -> list[str]:
    """Core topics plus one audience topic per street office, department and team."""
    audience = [audience_topic("street_office", s.code) for s in catalogue.street_offices]
    audience += [audience_topic("department", d.code) for d in catalogue.departments]
    audience += [audience_topic("team", t.code) for t in catalogue.teams]
    return [f"{prefix}{t}" for t in (*CORE_TOPICS, *audience)]


async def create_topics(bootstrap: str, catalogue: Catalogue, *, prefix: str = "") -> list[str]:
    """Every topic of `deploy/topics.yaml`'s plan, with its partition count."""
    await wait_for_broker(bootstrap)
    core = [f"{prefix}{t}" for t in CORE_TOPICS if t != DEADLETTER]
    audiences = [t for t in all_topics(catalogue, prefix=prefix) if t not in core and t != f"{prefix}{DEADLETTER}"]
    created = await ensure_topics(bootstrap, [f"{prefix}{DEADLETTER}"], partitions=DEADLETTER_PARTITIONS)
    created += await ensure_topics(bootstrap, core, partitions=PARTITIONS)
    return created + await ensure_topics(bootstrap, audiences, partitions=AUDIENCE_PARTITIONS)


async def migrate_all(dsn: str, *, schema_prefix: str = "") -> None:
    await migrate(dsn, schema=f"{schema_prefix}auth", directories=[AUTH_MIGRATIONS])
    for name in SERVICES:
        await migrate(dsn, schema=f"{schema_prefix}{name}", directories=[service_migrations(name)])


def _demo_plan(catalogue: Catalogue) -> list[tuple[str, Role, str | None, str]]:
    """(group, role, scope, name) for every demo key."""
    plan: list[tuple[str, Role, str | None, str]] = [("admin", "admin", None, "admin")]
    plan += [("street_offices", "street_office", s.code, f"street office {s.code}") for s in catalogue.street_offices]
    plan += [("grid_workers", "grid_worker", s.code, f"grid worker {s.code}") for s in catalogue.street_offices]
    plan += [("departments", "department", d.code, f"department {d.code}") for d in catalogue.departments]
    plan += [("teams", "team", t.code, f"team {t.code}") for t in catalogue.teams]
    return plan


async def provision_demo_keys(
    dsn: str, catalogue: Catalogue, *, keys_file: Path | None, schema_prefix: str = ""
) -> dict[str, Any]:
    """Keys for every role and catalogue entry, reusing those already in `keys_file` unless revoked or expired."""
    existing = _read_keys(keys_file)
    keys: dict[str, Any] = {"admin": None, "street_offices": {}, "grid_workers": {}, "departments": {}, "teams": {}}
    conn = await asyncpg.connect(dsn)
    try:
        auth_schema = f"{schema_prefix}auth"
        for group, role, scope, name in _demo_plan(catalogue):
            earlier = existing.get("admin") if group == "admin" else existing.get(group, {}).get(scope)
            key = earlier if earlier and await _usable(conn, auth_schema, earlier) else generate_key(role)
            if group == "admin":
                keys["admin"] = key
            else:
                keys[group][scope] = key
            await insert_key(conn, auth_schema=auth_schema, key=key, name=name, role=role, scope=scope)
    finally:
        await conn.close()
    if keys_file:
        _write_keys(keys_file, keys)
    return keys


async def _usable(conn: asyncpg.Connection, auth_schema: str, key: str) -> bool:
    """A key from the file may be reused unless an operator revoked it or it expired."""
    refused = await conn.fetchval(
        f"SELECT revoked_at IS NOT NULL OR expires_at <= now() FROM {auth_schema}.api_keys WHERE key_hash = $1",
        hash_key(key),
    )
    return not refused


def _read_keys(keys_file: Path | None) -> dict[str, Any]:
    return json.loads(keys_file.read_text()) if keys_file and keys_file.exists() else {}


def _write_keys(keys_file: Path, keys: dict[str, Any]) -> None:
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    # The keys are secrets: written to a new file created 0600, then moved over the old one.
    partial = keys_file.with_name(keys_file.name + ".new")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as out:
        out.write(json.dumps(keys, indent=2, ensure_ascii=False))
    partial.replace(keys_file)


class BootstrapError(Exception):
    """The admin key given to `lastmeter init` cannot be used (the message says why)."""


ADMIN_BOOTSTRAP_LOCK = "lastmeter:admin-bootstrap"
MIN_ADMIN_KEY_CHARS = 32


async def bootstrap_admin_key(dsn: str, *, key_file: Path | None, schema_prefix: str = "") -> tuple[str | None, str]:
    """Production keys: the admin key from `key_file`, else one new admin key only while none is usable.

    Returns (a new key to print once, or None; what was done). Safe to rerun and to run twice at once
    (an advisory lock), so a restarted init Job never mints a second key.
    """
    given = _read_admin_key(key_file) if key_file else None
    auth_schema = f"{schema_prefix}auth"
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", ADMIN_BOOTSTRAP_LOCK)
            if given is not None:
                if not await _usable(conn, auth_schema, given):
                    raise BootstrapError(f"the admin key in {key_file} was revoked or has expired; put a new one there")
                await insert_key(
                    conn, auth_schema=auth_schema, key=given, name="admin (from secret)", role="admin", scope=None
                )
                return None, f"admin key from {key_file} registered"
            usable = await conn.fetchval(
                f"SELECT count(*) FROM {auth_schema}.api_keys WHERE role = 'admin' AND revoked_at IS NULL "
                "AND (expires_at IS NULL OR expires_at > now())"
            )
            if usable:
                return None, "an admin key exists already; none created"
            key = generate_key("admin")
            await insert_key(conn, auth_schema=auth_schema, key=key, name="admin (bootstrap)", role="admin", scope=None)
            return key, "admin bootstrap key created"
    finally:
        await conn.close()


def _read_admin_key(key_file: Path) -> str:
    """The key in a secret file (surrounding whitespace dropped); refuses a missing, empty or short one."""
    try:
        key = key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BootstrapError(f"cannot read the admin key file {key_file}: {exc.strerror or exc}") from exc
    if len(key) < MIN_ADMIN_KEY_CHARS or any(c.isspace() for c in key):
        raise BootstrapError(
            f"the admin key in {key_file} must be one token of at least {MIN_ADMIN_KEY_CHARS} characters "
            "(e.g. `python -c 'import secrets; print(\"lm_admin_\" + secrets.token_urlsafe(32))'`)"
        )
    return key


async def prepare(
    *, dsn: str, bootstrap: str, catalogue: Catalogue, topic_prefix: str = "", schema_prefix: str = ""
) -> None:
    """Topics and every schema's migrations (no keys)."""
    created = await create_topics(bootstrap, catalogue, prefix=topic_prefix)
    log.info("topics ready", created=len(created))
    await migrate_all(dsn, schema_prefix=schema_prefix)


async def initialise(
    *,
    dsn: str,
    bootstrap: str,
    catalogue: Catalogue,
    keys_file: Path | None,
    topic_prefix: str = "",
    schema_prefix: str = "",
) -> dict[str, Any]:
    """Topics, migrations and demo keys (dev and tests only); returns the keys."""
    await prepare(
        dsn=dsn, bootstrap=bootstrap, catalogue=catalogue, topic_prefix=topic_prefix, schema_prefix=schema_prefix
    )
    return await provision_demo_keys(dsn, catalogue, keys_file=keys_file, schema_prefix=schema_prefix)
