"""`make run`: the whole system on embedded defaults, in the foreground, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
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
# How long the services get to drain (uvicorn gives open streams 3 s, then the shutdown steps) before SIGKILL.
SERVICE_GRACE = 6.5


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


class StopRequested(BaseException):
    """SIGTERM or SIGINT reached the orchestrator: stop everything, in order."""


def _request_stop(signum: int, _frame: object) -> None:
    # Only the first signal counts: `make` forwards SIGTERM to us on top of the one the process
    # group got, and a second one must not cut the ordered stop short (services orphaned, the
    # database stopped under them). The stop below is bounded, so nothing is lost by ignoring.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise StopRequested(signum)


def service_ports() -> dict[str, int]:
    """Each service's port: the defaults, or LASTMETER_<NAME>_PORT (two stacks on one machine, tests)."""
    return {name: int(os.environ.get(f"LASTMETER_{name.upper()}_PORT") or port) for name, port in DEFAULT_PORTS.items()}


def run_dev_stack(home: Path) -> int:
    """Start everything, print where to look, wait for Ctrl-C / SIGTERM, stop everything."""
    started = time.monotonic()
    # Also installed for SIGINT: started from a non-interactive shell, SIGINT may arrive ignored.
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    ports = service_ports()
    busy = [f"{name}:{port}" for name, port in ports.items() if not _port_free(port)]
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
            print(f"· starting PostgreSQL (embedded, data in {home / 'pgdata'}) …", flush=True)
            pg = EmbeddedPostgres(home / "pgdata")
            dsn = pg.dsn
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            port = int(os.environ.get("LASTMETER_BROKER_PORT") or 0) or (9092 if _port_free(9092) else free_port())
            print(f"· starting the Kafka-compatible broker (Tansu, memory storage) on 127.0.0.1:{port} …", flush=True)
            broker = start_broker(port=port, log_path=home / "broker.log")
            bootstrap = broker.bootstrap
        catalogue = load_catalogue(settings.catalogue_path)
        print("· creating topics, migrating schemas, provisioning demo keys …", flush=True)
        keys = asyncio.run(
            initialise(
                dsn=dsn,
                bootstrap=bootstrap,
                catalogue=catalogue,
                keys_file=home / "demo-keys.json",
                topic_prefix=settings.topic_prefix,
                schema_prefix=settings.schema_prefix,
            )
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
        for name, port in ports.items():
            group.start(name, port=port)
        group.wait_ready(timeout=60)
        _print_banner(home, keys, bootstrap, ports, time.monotonic() - started)
        while all(p.alive() for p in group.processes):
            time.sleep(0.5)
        dead = [p.name for p in group.processes if not p.alive()]
        print(f"lastmeter: {', '.join(dead)} stopped unexpectedly; see {home / 'logs'}/. Stopping.", file=sys.stderr)
        return 1
    except (StopRequested, KeyboardInterrupt):
        return 0
    finally:
        # From here on no signal interrupts the stop; each step below is bounded.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_stack(group, broker, pg)


def stop_stack(group: ServiceGroup | None, broker: BrokerProcess | None, pg: EmbeddedPostgres | None) -> None:
    """Services first (SIGTERM, SERVICE_GRACE s, SIGKILL), then the broker, PostgreSQL last: within 10 s."""
    print("\n· stopping …", flush=True)
    if group:
        killed = group.stop_all(timeout=SERVICE_GRACE)
        if killed:
            print(f"· {', '.join(killed)} did not stop within {SERVICE_GRACE:.0f}s: killed", flush=True)
    if broker:
        broker.stop(timeout=1.5)
    if pg:
        pg.stop(timeout=1.5)
    print("· stopped.", flush=True)


def _print_banner(home: Path, keys: dict[str, object], bootstrap: str, ports: dict[str, int], seconds: float) -> None:
    admin = keys["admin"]
    street_keys: dict[str, str] = keys["street_offices"]  # type: ignore[assignment]
    street, street_key = next(iter(street_keys.items()))
    print(
        f"""
lastmeter is up ({seconds:.1f}s).

  intake   http://127.0.0.1:{ports["intake"]}/docs      (POST /v1/needs, Open311 under /open311/v2/)
  routing  http://127.0.0.1:{ports["routing"]}/docs
  sla      http://127.0.0.1:{ports["sla"]}/docs
  notify   http://127.0.0.1:{ports["notify"]}/docs      (SSE: /v1/stream, dashboard: /dashboard)
  broker   {bootstrap}   (topics: intake.events, routing.events, sla.events, dept.<code> …)
  logs     {home / "logs"}/

  admin key            {admin}
  street office ({street}) {street_key}
  every key            {home / "demo-keys.json"}

Try:
  curl -s -XPOST http://127.0.0.1:{ports["intake"]}/v1/needs -H 'content-type: application/json' \\
       -d '{{"category":"street_light_out","description":"路灯不亮了","community":"jinrongjie"}}'
  curl -s http://127.0.0.1:{ports["intake"]}/v1/cases/<case_id> -H 'authorization: Bearer <access_token>'
  curl -sN http://127.0.0.1:{ports["notify"]}/v1/stream -H 'authorization: Bearer {street_key}'

Ctrl-C stops everything.
""",
        flush=True,
    )
