"""`lastmeter`: the operator's command line (run the dev stack, init, keys, dead letters)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

# Where `lastmeter run` and a dev `init` keep their state (demo keys, logs, embedded data): never
# next to the installed package, which an image's non-root user cannot write.
HOME = Path(os.environ.get("LASTMETER_HOME") or Path.cwd() / ".lastmeter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lastmeter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start broker, PostgreSQL and the four services (embedded defaults)")
    sub.add_parser(
        "init", help="create topics, migrate every schema; demo keys (dev/test) or one admin bootstrap key (prod)"
    )
    keys = sub.add_parser("keys", help="API keys: create (`keys --role R [--scope S] [--expires 90d]`), list, revoke")
    _add_create_arguments(keys, required=False)
    keys_sub = keys.add_subparsers(dest="keys_command")
    _add_create_arguments(keys_sub.add_parser("create", help="create an API key (printed once)"), required=True)
    keys_list = keys_sub.add_parser("list", help="list API keys (never the keys themselves)")
    keys_list.add_argument("--residents", action="store_true", help="include residents' access tokens")
    keys_list.add_argument("--case", help="only the resident access tokens of this case")
    keys_revoke = keys_sub.add_parser("revoke", help="revoke an API key or resident access token")
    keys_revoke.add_argument("id", metavar="ID_OR_PREFIX", help="its id from `keys list` (a unique prefix will do)")
    dlq = sub.add_parser("dlq", help="list or replay dead letters")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list")
    dlq_list.add_argument("--service", choices=["intake", "routing", "sla", "notify"])
    dlq_list.add_argument("--all", action="store_true", help="include replayed ones")
    replay = dlq_sub.add_parser("replay", help="publish a dead letter again to its original topic")
    replay.add_argument("service", choices=["intake", "routing", "sla", "notify"])
    replay.add_argument("ids", nargs="+", type=int)
    asyncapi = sub.add_parser("asyncapi", help="write docs/asyncapi.yaml from the event models")
    asyncapi.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    args = parser.parse_args(argv)

    from shared.logging import configure_logging

    configure_logging(service="lastmeter", level=os.environ.get("LASTMETER_LOG_LEVEL", "WARNING"))
    if args.command == "run":
        from shared.devrun import run_dev_stack

        return run_dev_stack(HOME)
    if args.command == "asyncapi":
        from shared.asyncapi import main as asyncapi_main

        return asyncapi_main(["--check"] if args.check else [])
    settings = ServiceSettings()
    if args.command == "init":
        return asyncio.run(_init(settings))
    if args.command == "keys":
        return asyncio.run(_keys(settings, args, keys))
    if args.dlq_command == "list":
        return asyncio.run(_dlq_list(settings, args.service, args.all))
    return asyncio.run(_dlq_replay(settings, args.service, args.ids))


async def _init(settings: ServiceSettings) -> int:
    """Topics and migrations; then demo keys in dev/test, or in prod only the admin bootstrap key."""
    from shared.catalogue import load_catalogue
    from shared.provision import BootstrapError, bootstrap_admin_key, initialise, prepare

    catalogue = load_catalogue(settings.catalogue_path)
    where = {"topic_prefix": settings.topic_prefix, "schema_prefix": settings.schema_prefix}
    if settings.env != "prod":
        keys_file = HOME / "demo-keys.json"
        keys = await initialise(
            dsn=settings.database_url,
            bootstrap=settings.kafka_bootstrap_servers,
            catalogue=catalogue,
            keys_file=keys_file,
            **where,
        )
        count = 1 + sum(len(v) for v in keys.values() if isinstance(v, dict))
        print(f"initialised: topics, schemas, {count} demo keys (written to {keys_file})")
        return 0
    await prepare(dsn=settings.database_url, bootstrap=settings.kafka_bootstrap_servers, catalogue=catalogue, **where)
    key_file = os.environ.get("LASTMETER_ADMIN_KEY_FILE")
    try:
        key, done = await bootstrap_admin_key(
            settings.database_url, key_file=Path(key_file) if key_file else None, schema_prefix=settings.schema_prefix
        )
    except BootstrapError as exc:
        print(f"lastmeter init: {exc}", file=sys.stderr)
        return 2
    print(f"initialised: topics, schemas; {done} (no demo keys in prod)")
    if key:
        print(
            "\nThe admin key, shown this once (only its hash is stored). Keep it in your secret store;\n"
            "create other keys with `lastmeter keys --role ROLE --scope CODE`:\n\n"
            f"  {key}\n"
        )
    return 0


def _add_create_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--role", required=required, choices=["resident", "grid_worker", "department", "team", "street_office", "admin"]
    )
    parser.add_argument("--scope", help="department, team or street code the key is limited to")
    parser.add_argument("--name", default="")
    parser.add_argument("--expires", help="when the key stops working: 90d, 12h, 30m from now, or an ISO 8601 time")


async def _keys(settings: ServiceSettings, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`lastmeter keys …`: create (the default), list or revoke."""
    from datetime import UTC, datetime

    import asyncpg

    from shared import keys_admin

    command = args.keys_command or "create"
    if command == "create" and not args.role:
        parser.error("creating a key needs --role (or use `keys list` / `keys revoke ID`)")
    auth_schema = f"{settings.schema_prefix}auth"
    try:
        expires = (
            keys_admin.parse_expiry(args.expires, now=datetime.now(UTC))
            if command == "create" and args.expires
            else None
        )
        conn = await asyncpg.connect(settings.database_url)
        try:
            if command == "list":
                found = await keys_admin.list_credentials(
                    conn, auth_schema=auth_schema, residents=args.residents, case_id=args.case
                )
                print(keys_admin.format_table(found))
            elif command == "revoke":
                print(await keys_admin.revoke(conn, auth_schema=auth_schema, id_or_prefix=args.id))
            else:
                print(await _create_key(conn, auth_schema, args.role, args.scope, args.name, expires))
        finally:
            await conn.close()
    except keys_admin.KeyAdminError as exc:
        print(f"lastmeter keys: {exc}", file=sys.stderr)
        return 2
    return 0


async def _create_key(
    conn: asyncpg.Connection, auth_schema: str, role: Any, scope: str | None, name: str, expires_at: datetime | None
) -> str:
    """A new key stored by hash; returned to be printed once."""
    from shared.auth import generate_key, insert_key

    key = generate_key(role)
    await insert_key(
        conn, auth_schema=auth_schema, key=key, name=name or role, role=role, scope=scope, expires_at=expires_at
    )
    return key


async def _dlq_list(settings: ServiceSettings, service: str | None, include_replayed: bool) -> int:
    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        print(f"{'service':8} {'id':>6}  {'consumer':10} {'reason':18} {'origin':40} detail")
        for name in [service] if service else ["intake", "routing", "sla", "notify"]:
            schema = f"{settings.schema_prefix}{name}"
            rows = await conn.fetch(
                'SELECT id, consumer, topic, partition, "offset", reason, detail, replayed_at '
                f"FROM {schema}.dead_letters "
                + ("" if include_replayed else "WHERE replayed_at IS NULL ")
                + "ORDER BY id"
            )
            for r in rows:
                origin = f"{r['topic']}[{r['partition']}]@{r['offset']}"
                print(f"{name:8} {r['id']:>6}  {r['consumer']:10} {r['reason']:18} {origin:40} {r['detail'][:80]}")
    finally:
        await conn.close()
    return 0


async def _dlq_replay(settings: ServiceSettings, service: str, ids: list[int]) -> int:
    """Queue the stored original messages for publishing again through the service's own outbox."""
    import asyncpg

    schema = f"{settings.schema_prefix}{service}"
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            rows = await conn.fetch(
                f"UPDATE {schema}.dead_letters SET replayed_at = now() "
                "WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL RETURNING id, topic, key, payload",
                ids,
            )
            for r in rows:
                await conn.execute(
                    f"INSERT INTO {schema}.outbox (topic, key, event_id, payload, headers) "
                    "VALUES ($1, $2, $3, $4, $5::jsonb)",
                    r["topic"],
                    r["key"] or "",
                    f"replay:{r['id']}",
                    r["payload"] or b"",
                    json.dumps({"dlq_replayed_from": str(r["id"])}),
                )
            await conn.execute("SELECT pg_notify($1, '')", f"{schema}_outbox")
    finally:
        await conn.close()
    missing = sorted(set(ids) - {r["id"] for r in rows})
    print(f"replayed {len(rows)} dead letter(s)" + (f"; not found or already replayed: {missing}" if missing else ""))
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
