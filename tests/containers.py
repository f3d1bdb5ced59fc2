"""Where the tests' broker and PostgreSQL come from, and testcontainers for them (issue 19).

Order, per part: KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL if set; else containers started by
testcontainers where a Docker-compatible API answers (Docker, or Podman's `podman system
service`, found through DOCKER_HOST or the usual sockets); else the embedded processes.
Images: LASTMETER_TEST_KAFKA_IMAGE / LASTMETER_TEST_POSTGRES_IMAGE, by default the registry's
`apache/kafka` and `postgres`; `make test-containers` names the locally built ones. Every container
carries LABEL with its creator's pid, so a run sweeps what an interrupted run left behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.devstack import free_port, wait_for_port

LABEL = "org.lastmeter.tests"
KAFKA_IMAGE = os.environ.get("LASTMETER_TEST_KAFKA_IMAGE", "apache/kafka:3.9.0")
POSTGRES_IMAGE = os.environ.get("LASTMETER_TEST_POSTGRES_IMAGE", "postgres:16")
# Images started with testcontainers' Kafka module; any other broker image is a Tansu one
# (deploy/podman/broker) that takes its advertised address from ADVERTISED_LISTENER_URL.
KAFKA_MODULE_IMAGES = ("apache/kafka", "confluentinc/", "docker.io/apache/kafka")


def _usual_sockets() -> list[Path]:
    run_dir = os.environ.get("XDG_RUNTIME_DIR", f"/run/user/{os.getuid()}")
    return [
        Path("/var/run/docker.sock"),
        Path.home() / ".docker" / "run" / "docker.sock",
        Path("/run/podman/podman.sock"),
        Path(run_dir) / "podman" / "podman.sock",
    ]


def _answers(socket_path: Path) -> bool:
    """A Docker-compatible API answers GET /_ping on this unix socket."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(socket_path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            status = s.recv(256).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return status.startswith(b"HTTP/1.") and b" 200" in status


@functools.cache
def docker_host() -> str | None:
    """The Docker-compatible API to use (DOCKER_HOST, or the first usual socket that answers), or None."""
    given = os.environ.get("DOCKER_HOST")
    if given:
        if given.startswith("unix://") and not _answers(Path(given.removeprefix("unix://"))):
            return None
        return given
    for path in _usual_sockets():
        if path.exists() and _answers(path):
            return f"unix://{path}"
    return None


@dataclass(frozen=True)
class Choice:
    """Where one part comes from, said at the top of the run."""

    source: str  # "env", "testcontainers" or "embedded"
    detail: str

    def line(self, part: str) -> str:
        return f"{part}: {self.source} ({self.detail})"


def choose(env_var: str, image: str) -> Choice:
    if os.environ.get(env_var):
        return Choice("env", env_var)
    if (host := docker_host()) is not None:
        return Choice("testcontainers", f"{image} via {host}")
    return Choice("embedded", "no Docker-compatible API answers")


def _prepare() -> None:
    """Point testcontainers at the chosen API; its reaper (Ryuk) cannot be pulled offline, we reap."""
    host = docker_host()
    assert host is not None
    os.environ["DOCKER_HOST"] = host
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def _labels() -> dict[str, str]:
    return {LABEL: "1", f"{LABEL}.pid": str(os.getpid()), f"{LABEL}.host": socket.gethostname()}


def sweep() -> list[str]:
    """Remove containers an earlier, interrupted run of this host left (their creator is gone)."""
    _prepare()
    import docker

    client = docker.from_env(timeout=30)
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": LABEL}):
            labels = container.labels or {}
            if labels.get(f"{LABEL}.host") == socket.gethostname() and _pid_alive(int(labels.get(f"{LABEL}.pid", 0))):
                continue
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                removed.append(container.name)
    finally:
        client.close()
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loopback_only(container: Any, port: int, host_port: int | None = None) -> None:
    """Publish `port` on 127.0.0.1 only (testcontainers' with_bind_ports binds every interface)."""
    # The Docker SDK takes (host ip, host port) or (host ip,) for a random port.
    container.ports[port] = ("127.0.0.1", host_port) if host_port else ("127.0.0.1",)


@contextlib.contextmanager
def kafka_container() -> Iterator[str]:
    """A broker container for the session; yields its bootstrap address, removes it afterwards."""
    _prepare()
    if KAFKA_IMAGE.startswith(KAFKA_MODULE_IMAGES):
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft().with_kwargs(labels=_labels()) as kafka:
            yield kafka.get_bootstrap_server()
        return
    from testcontainers.core.container import DockerContainer

    # Tansu advertises one address, so the host port is chosen first and published as itself.
    port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_env("ADVERTISED_LISTENER_URL", f"tcp://127.0.0.1:{port}")
        .with_kwargs(labels=_labels())
    )
    _loopback_only(container, 9092, port)
    with container:
        wait_for_port("127.0.0.1", port, timeout=60)
        yield f"127.0.0.1:{port}"


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    """A PostgreSQL container for the session; yields its DSN, removes it afterwards."""
    _prepare()
    from testcontainers.community.postgres import PostgresContainer

    # Published on 127.0.0.1 only, with a random password: a shared CI machine's neighbours see nothing.
    pg = PostgresContainer(POSTGRES_IMAGE, password=secrets.token_urlsafe(16), driver=None)
    _loopback_only(pg, 5432)
    with pg.with_kwargs(labels=_labels()):
        yield pg.get_connection_url().replace("@localhost:", "@127.0.0.1:")
