"""`make run`: the whole system on embedded defaults, in the foreground, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from shared.catalogue import load_catalogue
from shared.devstack import BrokerProcess, EmbeddedPostgres, free_port, start_broker
from shared.procs import DEFAULT_PORTS, ServiceGroup
from shared.provision import initialise
from shared.settings import ServiceSettings, secret_problem

SECRET_FILE = "token-secret"


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def dev_token_secret(home: Path) -> str:
    """This checkout's own random token secret, made on the first run and kept in `home` (mode 0600)."""
    path = home / SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if secret and secret_problem(secret) is None:
        path.chmod(0o600)
        return secret
    secret = secrets.token_urlsafe(48)
    path.unlink(missing_ok=True)
    # Created with its final mode, so the secret is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    return secret


def run_dev_stack(home: Path) -> int:
    """Start everything, print where to look, wait for Ctrl-C / SIGTERM, stop everything."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Started from a non-interactive shell, SIGINT may arrive ignored; Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    busy = [f"{name}:{port}" for name, port in DEFAULT_PORTS.items() if not _port_free(port)]
    if busy:
        print(f"lastmeter: ports already in use ({', '.join(busy)}); is another `make run` still up?", file=sys.stderr)
        return 1
    home.mkdir(parents=True, exist_ok=True)
    given = os.environ.get("LASTMETER_TOKEN_SECRET", "")
    token_secret = given if given and secret_problem(given) is None else dev_token_secret(home)
    settings = ServiceSettings()
    broker: BrokerProcess | None = None
    pg: EmbeddedPostgres | None = None
    group: ServiceGroup | None = None
    try:
        dsn = os.environ.get("DATABASE_URL")
        if not dsn:
            print("· starting PostgreSQL (embedded, data in .lastmeter/pgdata) …", flush=True)
            pg = EmbeddedPostgres(home / "pgdata")
            dsn = pg.dsn
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            port = 9092 if _port_free(9092) else free_port()
            print(f"· starting the Kafka-compatible broker (Tansu, memory storage) on 127.0.0.1:{port} …", flush=True)
            broker = start_broker(port=port, log_path=home / "broker.log")
            bootstrap = broker.bootstrap
        catalogue = load_catalogue(settings.catalogue_path)
        print("· creating topics, migrating schemas, provisioning demo keys …", flush=True)
        keys = asyncio.run(
            initialise(dsn=dsn, bootstrap=bootstrap, catalogue=catalogue, keys_file=home / "demo-keys.json")
        )
        group = ServiceGroup(
            env={
                "DATABASE_URL": dsn,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LASTMETER_CATALOGUE_PATH": str(settings.catalogue_path),
                "LASTMETER_LOG_JSON": "true",
                # Webhook receivers in a dev session run on this machine; prod refuses the setting.
                "LASTMETER_WEBHOOK_ALLOW_LOOPBACK": "true",
                "LASTMETER_TOKEN_SECRET": token_secret,
            },
            log_dir=home / "logs",
        )
        for name in DEFAULT_PORTS:
            group.start(name)
        group.wait_ready(timeout=60)
        _print_banner(home, keys, bootstrap, time.monotonic() - started)
        while all(p.alive() for p in group.processes):
            time.sleep(0.5)
        dead = [p.name for p in group.processes if not p.alive()]
        print(
            f"lastmeter: {', '.join(dead)} stopped unexpectedly; see .lastmeter/logs/. Shutting down.", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("\n· stopping …", flush=True)
        with contextlib.suppress(Exception):
            if group:
                group.stop_all()
        if broker:
            broker.stop()
        if pg:
            pg.stop()
        print("· stopped.", flush=True)


def _print_banner(home: Path, keys: dict[str, object], bootstrap: str, seconds: float) -> None:
    admin = keys["admin"]
    street_keys: dict[str, str] = keys["street_offices"]  # type: ignore[assignment]
    street, street_key = next(iter(street_keys.items()))
    print(
        f"""
lastmeter is up ({seconds:.1f}s).

  intake   http://127.0.0.1:8001/docs      (POST /v1/needs, Open311 under /open311/v2/)
  routing  http://127.0.0.1:8002/docs
  sla      http://127.0.0.1:8003/docs
  notify   http://127.0.0.1:8004/docs      (SSE: /v1/stream, dashboard: /dashboard)
  broker   {bootstrap}   (topics: intake.events, routing.events, sla.events, dept.<code> …)
  logs     {home / "logs"}/

  admin key            {admin}
  street office ({street}) {street_key}
  every key            {home / "demo-keys.json"}

Try:
  curl -s -XPOST http://127.0.0.1:8001/v1/needs -H 'content-type: application/json' \\
       -d '{{"category":"street_light_out","description":"路灯不亮了","community":"jinrongjie"}}'
  curl -s http://127.0.0.1:8001/v1/cases/<case_id> -H 'authorization: Bearer <access_token>'
  curl -sN http://127.0.0.1:8004/v1/stream -H 'authorization: Bearer {street_key}'

Ctrl-C stops everything.
""",
        flush=True,
    )
