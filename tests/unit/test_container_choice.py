"""Where the tests' broker and PostgreSQL come from: env, then a Docker-compatible API, then embedded."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import containers


@pytest.fixture
def api_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket that answers /_ping as Docker and Podman do."""
    path = tmp_path / "api.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

    threading.Thread(target=serve, daemon=True).start()
    yield path
    server.close()


@pytest.fixture(autouse=True)
def no_usual_sockets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(containers, "_usual_sockets", lambda: [tmp_path / "none.sock"])
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    containers.docker_host.cache_clear()
    yield
    containers.docker_host.cache_clear()


def test_a_set_variable_wins_over_an_answering_api(monkeypatch: pytest.MonkeyPatch, api_socket: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{api_socket}")
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/x")
    assert containers.choose("DATABASE_URL", "postgres:16").source == "env"


def test_an_answering_docker_host_means_testcontainers(monkeypatch: pytest.MonkeyPatch, api_socket: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{api_socket}")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    choice = containers.choose("DATABASE_URL", "localhost/lastmeter-postgres:15")
    assert choice.source == "testcontainers"
    assert (
        choice.line("postgres") == f"postgres: testcontainers (localhost/lastmeter-postgres:15 via unix://{api_socket})"
    )


def test_a_usual_socket_is_found_without_docker_host(monkeypatch: pytest.MonkeyPatch, api_socket: Path) -> None:
    monkeypatch.setattr(containers, "_usual_sockets", lambda: [api_socket.parent / "missing.sock", api_socket])
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert containers.choose("KAFKA_BOOTSTRAP_SERVERS", "apache/kafka:3.9.0").source == "testcontainers"
    assert containers.docker_host() == f"unix://{api_socket}"


def test_a_silent_socket_or_none_means_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dead = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dead))  # exists, but nothing listens: a stale socket file of a stopped service
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    try:
        assert containers.choose("KAFKA_BOOTSTRAP_SERVERS", "apache/kafka:3.9.0").source == "embedded"
    finally:
        listener.close()
    monkeypatch.delenv("DOCKER_HOST")
    containers.docker_host.cache_clear()
    assert containers.choose("KAFKA_BOOTSTRAP_SERVERS", "apache/kafka:3.9.0").source == "embedded"
